// The one place backends are registered (STYLE.md §2): adding a backend is a folder under
// signer/backends/ plus one line here.
#include "certwright/signer/key_backend.h"
#include "file/file_backend.h"

#ifdef CERTWRIGHT_WITH_PKCS11
#include "pkcs11/pkcs11_backend.h"
#endif
#ifdef CERTWRIGHT_WITH_AWSKMS
#include "awskms/awskms_backend.h"
#endif

namespace certwright::signer {

void RegisterBuiltinBackends(KeyBackendRegistry& registry) {
  registry.Register(std::make_unique<FileBackend>());
#ifdef CERTWRIGHT_WITH_PKCS11
  registry.Register(std::make_unique<pkcs11::Pkcs11Backend>());
#else
  registry.RegisterUnavailable("pkcs11", "certwright was built with CERTWRIGHT_WITH_PKCS11=OFF");
#endif
#ifdef CERTWRIGHT_WITH_AWSKMS
  registry.Register(std::make_unique<awskms::AwsKmsBackend>());
#else
  registry.RegisterUnavailable("awskms", "certwright was built with CERTWRIGHT_WITH_AWSKMS=OFF");
#endif
}

}  // namespace certwright::signer
