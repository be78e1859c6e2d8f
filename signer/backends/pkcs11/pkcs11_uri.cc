#include "pkcs11/pkcs11_uri.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "certwright/signer/ossl.h"
#include "certwright/signer/secret.h"

namespace certwright::signer::pkcs11 {

namespace {

bool IsFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

const std::vector<std::string>& ModuleSearchPath() {
  static const std::vector<std::string> dirs = {
      "/usr/lib/x86_64-linux-gnu/pkcs11", "/usr/lib/aarch64-linux-gnu/pkcs11", "/usr/lib/pkcs11",
      "/usr/lib/softhsm", "/usr/local/lib/softhsm", "/usr/lib64/pkcs11", "/usr/local/lib/pkcs11"};
  return dirs;
}

Result<Pkcs11Uri> Pkcs11Uri::FromKeyUri(const KeyUri& uri) {
  static const std::vector<std::string_view> kPath = {
      "token", "manufacturer", "serial", "model", "library-manufacturer", "library-description",
      "library-version", "object", "type", "id", "slot-manufacturer", "slot-description", "slot-id"};
  static const std::vector<std::string_view> kQuery = {"pin-source", "pin-value", "module-name", "module-path"};
  if (uri.scheme() != "pkcs11") return InvalidArgument("not a pkcs11: URI");
  CW_RETURN_IF_ERROR(CheckAttributes(uri, kPath, kQuery));

  Pkcs11Uri out;
  out.redacted = uri.Redacted();
  out.token = uri.path_attribute("token");
  out.serial = uri.path_attribute("serial");
  out.manufacturer = uri.path_attribute("manufacturer");
  out.model = uri.path_attribute("model");
  out.object = uri.path_attribute("object");
  if (auto id = uri.path_attribute("id")) {
    if (id->empty()) return InvalidArgument("pkcs11 URI attribute \"id\" is empty");
    out.id = Bytes(id->begin(), id->end());
  }
  if (auto slot = uri.path_attribute("slot-id")) {
    if (slot->empty() || slot->size() > 19 ||
        !std::all_of(slot->begin(), slot->end(), [](unsigned char c) { return std::isdigit(c); })) {
      return InvalidArgument("pkcs11 URI attribute \"slot-id\" must be a decimal number, got \"" + *slot + "\"");
    }
    unsigned long slot_id = 0;
    auto [end, ec] = std::from_chars(slot->data(), slot->data() + slot->size(), slot_id);
    if (ec != std::errc() || end != slot->data() + slot->size()) {
      return InvalidArgument("pkcs11 URI attribute \"slot-id\" " + *slot + " is too large for a slot id");
    }
    out.slot_id = slot_id;
  }
  if (auto type = uri.path_attribute("type"); type && *type != "private") {
    return InvalidArgument("pkcs11 URI attribute \"type\" must be \"private\" for a signing key, got \"" + *type + "\"");
  }
  if (!out.token && !out.serial && !out.slot_id) {
    return InvalidArgument("pkcs11 URI must select a token with \"token\", \"serial\" or \"slot-id\"");
  }
  if (!out.object && !out.id) {
    return InvalidArgument("pkcs11 URI must name the key with \"object\" (label) or \"id\"");
  }

  auto module_path = uri.query_attribute("module-path");
  auto module_name = uri.query_attribute("module-name");
  if (module_path && module_name) {
    return InvalidArgument("pkcs11 URI has both \"module-path\" and \"module-name\"; give one");
  }
  if (module_path) {
    if (module_path->empty() || module_path->front() != '/') {
      return InvalidArgument("pkcs11 URI attribute \"module-path\" must be an absolute path, got \"" + *module_path + "\"");
    }
    out.module_path = *module_path;
  } else if (module_name) {
    if (module_name->find('/') != std::string::npos || module_name->empty()) {
      return InvalidArgument("pkcs11 URI attribute \"module-name\" must be a bare name such as \"softhsm2\"");
    }
    for (const auto& dir : ModuleSearchPath()) {
      for (const auto& candidate : {dir + "/" + *module_name + ".so", dir + "/lib" + *module_name + ".so"}) {
        if (IsFile(candidate)) {
          out.module_path = candidate;
          break;
        }
      }
      if (!out.module_path.empty()) break;
    }
    if (out.module_path.empty()) {
      return NotFound("pkcs11 URI attribute \"module-name\": no module \"" + *module_name +
                      "\" in the PKCS#11 module directories; give \"module-path\" instead");
    }
  } else {
    return InvalidArgument("pkcs11 URI needs \"module-path\" (or \"module-name\") to know which PKCS#11 module to load");
  }

  // Read in place: query_attribute() would return one more copy of the PIN to wipe.
  for (const auto& [name, value] : uri.query_attributes()) {
    if (name == "pin-value") out.pin_value = value;
  }
  out.pin_source = uri.query_attribute("pin-source");
  if (out.pin_value && out.pin_source) {
    return InvalidArgument("pkcs11 URI has both \"pin-value\" and \"pin-source\"; give one");
  }
  if (out.pin_source) {
    std::string& src = *out.pin_source;
    if (src.starts_with("file:")) src = src.substr(5);
    if (src.starts_with("//")) src = src.substr(2);
    if (src.empty() || src.front() != '/') {
      return InvalidArgument("pkcs11 URI attribute \"pin-source\" must be an absolute file path or file: URI");
    }
  }
  return out;
}

Pkcs11Uri::~Pkcs11Uri() {
  if (pin_value) Wipe(*pin_value);
}

std::string Pkcs11Uri::TokenDescription() const {
  if (token) return "token \"" + *token + "\"";
  if (serial) return "token with serial \"" + *serial + "\"";
  return "slot " + std::to_string(slot_id.value_or(0));
}

std::string Pkcs11Uri::KeyDescription() const {
  std::string out;
  if (object) out = "object \"" + *object + "\"";
  if (id) {
    if (!out.empty()) out += " ";
    out += "id " + ossl::Hex(ossl::Bytes(id->begin(), id->end()));
  }
  return out;
}

}  // namespace certwright::signer::pkcs11
