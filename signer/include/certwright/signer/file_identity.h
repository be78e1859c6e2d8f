// Which file a path names, however the path is spelled.
//
// A symlink, "//", "/./" or "dir/../" spell one file many ways; the file itself is its device
// and inode. certwright identifies PKCS#11 modules this way (a module is the code it loads, not
// the string that names it), and the operator compares the module of a namespaced Issuer with
// the modules an admin allowed the same way.
//
//   auto allowed = FileIdentity("/usr/lib/softhsm/libsofthsm2.so");
//   auto asked = FileIdentity("//usr/lib/softhsm/./libsofthsm2.so");
//   if (allowed.ok() && asked.ok() && *allowed == *asked) { /* the same module */ }
#pragma once

#include <string>

#include "certwright/signer/result.h"

namespace certwright::signer {

struct ResolvedFile {
  std::string real_path;  // realpath(3): absolute, without symlinks, ".", ".." or repeated '/'
  std::string identity;   // "<st_dev>:<st_ino>" of the file, as FileIdentity returns it
};

// Resolves `path` with realpath(3) and stat(2)s the result. kNotFound when there is no such
// file, kPermissionDenied when a directory on the way may not be searched, kInvalidArgument
// for anything else (including a path that is not a regular file). Messages name `path`.
Result<ResolvedFile> ResolveFile(const std::string& path);

// "<st_dev>:<st_ino>" of the regular file `path` names after realpath(3): equal for every
// spelling of one file (hard links included), different for a copy. Errors as ResolveFile.
Result<std::string> FileIdentity(const std::string& path);

}  // namespace certwright::signer
