#include "certwright/signer/key_backend.h"

namespace certwright::signer {

namespace {

// A backend compiled out: every use, asking for a token identity included, says so.
class UnavailableBackend final : public KeyBackend, public TokenIdentifier {
 public:
  UnavailableBackend(std::string scheme, std::string why) : scheme_(std::move(scheme)), why_(std::move(why)) {}

  // signer::KeyBackend
  std::string_view scheme() const override { return scheme_; }
  Result<std::shared_ptr<SigningKey>> Load(const KeyUri&) override { return Fail(); }
  Result<std::shared_ptr<SigningKey>> Create(const KeyUri&, const KeySpec&) override { return Fail(); }

  // signer::TokenIdentifier
  Result<std::string> TokenIdentity(const KeyUri&) override { return Fail(); }

 private:
  Error Fail() const { return InvalidArgument(scheme_ + ": key backend is not available in this build: " + why_); }
  std::string scheme_;
  std::string why_;
};

}  // namespace

void KeyBackendRegistry::Register(std::unique_ptr<KeyBackend> backend) {
  std::string scheme(backend->scheme());
  backends_[scheme] = std::move(backend);
}

void KeyBackendRegistry::RegisterUnavailable(std::string scheme, std::string why) {
  Register(std::make_unique<UnavailableBackend>(std::move(scheme), std::move(why)));
}

Result<KeyBackend*> KeyBackendRegistry::BackendFor(const KeyUri& uri) const {
  auto it = backends_.find(uri.scheme());
  if (it == backends_.end()) {
    std::string known;
    for (const auto& [name, _] : backends_) known += (known.empty() ? "" : ", ") + name + ":";
    return InvalidArgument("key URI scheme \"" + uri.scheme() + ":\" is not supported; use one of " + known);
  }
  return it->second.get();
}

Result<std::shared_ptr<SigningKey>> KeyBackendRegistry::Load(std::string_view text) const {
  CW_ASSIGN_OR_RETURN(KeyUri uri, KeyUri::Parse(text));
  CW_ASSIGN_OR_RETURN(KeyBackend * backend, BackendFor(uri));
  return backend->Load(uri);
}

Result<std::shared_ptr<SigningKey>> KeyBackendRegistry::Create(std::string_view text, const KeySpec& spec) const {
  CW_ASSIGN_OR_RETURN(KeyUri uri, KeyUri::Parse(text));
  CW_ASSIGN_OR_RETURN(KeyBackend * backend, BackendFor(uri));
  return backend->Create(uri, spec);
}

Result<std::shared_ptr<SigningKey>> KeyBackendRegistry::LoadOrCreate(std::string_view text, const KeySpec& spec,
                                                                     bool* created) const {
  if (created) *created = false;
  CW_ASSIGN_OR_RETURN(KeyUri uri, KeyUri::Parse(text));
  CW_ASSIGN_OR_RETURN(KeyBackend * backend, BackendFor(uri));
  auto loaded = backend->Load(uri);
  if (loaded.ok()) return loaded;
  if (loaded.error().kind() != ErrorKind::kNotFound) return loaded;
  auto made = backend->Create(uri, spec);
  if (made.ok() && created) *created = true;
  return made;
}

Result<std::string> KeyBackendRegistry::TokenIdentity(std::string_view text) const {
  CW_ASSIGN_OR_RETURN(KeyUri uri, KeyUri::Parse(text));
  CW_ASSIGN_OR_RETURN(KeyBackend * backend, BackendFor(uri));
  auto* identifier = dynamic_cast<TokenIdentifier*>(backend);
  if (identifier == nullptr) {
    return InvalidArgument("the " + uri.scheme() + ": key backend keeps no keys on tokens, so a " + uri.scheme() +
                           ": URI names no token");
  }
  return identifier->TokenIdentity(uri);
}

}  // namespace certwright::signer
