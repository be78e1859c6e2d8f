// The webhook's two HTTP routes on certwright's HTTP server: POST /validate and POST /mutate,
// answered by Validate/Mutate (admission.h) and counted. `certwright webhook` serves them, and
// hack/bench/webhook measures exactly these.
//
//   http::Router router;
//   webhook::AddAdmissionRoutes(router, context, registry);   // context outlives the server
#pragma once

#include <memory>

#include "certwright/http/server.h"
#include "certwright/webhook/admission.h"

namespace prometheus {
class Registry;
}

namespace certwright::webhook {

// With a registry: certwright_webhook_requests_total and certwright_webhook_request_duration_seconds
// by path, resource, operation and result. `context` is read by reference on every request.
void AddAdmissionRoutes(http::Router& router, const AdmissionContext& context,
                        std::shared_ptr<prometheus::Registry> registry);

}  // namespace certwright::webhook
