#include "certwright/signer/file_identity.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace certwright::signer {

namespace {

Error FileError(const std::string& path, int e) {
  if (e == ENOENT || e == ENOTDIR) return NotFound(path + ": no such file");
  if (e == EACCES) return PermissionDenied(path + ": permission denied");
  return InvalidArgument(path + ": " + std::strerror(e));
}

}  // namespace

Result<ResolvedFile> ResolveFile(const std::string& path) {
  if (path.empty()) return InvalidArgument("the file path is empty");
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(path.c_str(), nullptr), &std::free);
  if (!real) return FileError(path, errno);
  struct stat st {};
  if (::stat(real.get(), &st) != 0) return FileError(path, errno);
  if (!S_ISREG(st.st_mode)) return InvalidArgument(path + ": not a regular file");
  return ResolvedFile{real.get(), std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
                                      std::to_string(static_cast<unsigned long long>(st.st_ino))};
}

Result<std::string> FileIdentity(const std::string& path) {
  CW_ASSIGN_OR_RETURN(ResolvedFile file, ResolveFile(path));
  return std::move(file.identity);
}

}  // namespace certwright::signer
