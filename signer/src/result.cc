#include "certwright/signer/result.h"

namespace certwright {

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return "InvalidArgument";
    case ErrorKind::kNotFound: return "NotFound";
    case ErrorKind::kAlreadyExists: return "AlreadyExists";
    case ErrorKind::kPermissionDenied: return "PermissionDenied";
    case ErrorKind::kPolicyDenied: return "PolicyDenied";
    case ErrorKind::kUnavailable: return "Unavailable";
    case ErrorKind::kConflict: return "Conflict";
    case ErrorKind::kInternal: return "Internal";
  }
  return "Unknown";
}

}  // namespace certwright
