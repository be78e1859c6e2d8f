#include "pkcs11/pkcs11_backend.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <algorithm>
#include <condition_variable>
#include <vector>

#include "certwright/signer/key_uri.h"
#include "certwright/signer/pem.h"
#include "certwright/signer/secret.h"

namespace certwright::signer::pkcs11 {

namespace {

std::string Trimmed(const unsigned char* field, size_t size) {
  std::string s(reinterpret_cast<const char*>(field), size);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

// Session and device faults: the session is dropped and the call retried on a fresh one.
bool IsSessionFault(CK_RV rv) {
  switch (rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_OPERATION_ACTIVE:
    case CKR_GENERAL_ERROR:
      return true;
    default:
      return false;
  }
}

bool IsStaleHandle(CK_RV rv) { return rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID; }

using ossl::FromHex;

CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, const void* value, size_t len) {
  return CK_ATTRIBUTE{type, const_cast<void*>(value), static_cast<CK_ULONG>(len)};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Token: one logged-in slot with a pool of sessions.

class Token {
 public:
  // `login_name` names the token inside its module for the module's LoginRecord (serial and
  // slot); `pin` is absent for a token used without login.
  Token(std::shared_ptr<Pkcs11Api> api, CK_SLOT_ID slot, std::string login_name, std::string description,
        std::optional<SecretString> pin, size_t max_sessions)
      : api_(std::move(api)),
        slot_(slot),
        login_name_(std::move(login_name)),
        description_(std::move(description)),
        pin_(std::move(pin)),
        max_sessions_(max_sessions) {}

  ~Token() {
    for (CK_SESSION_HANDLE s : idle_) api_->CloseSession(s);
  }

  // A session borrowed from the pool; returned on destruction unless marked broken.
  class Lease {
   public:
    Lease(Token* token, CK_SESSION_HANDLE session) : token_(token), session_(session) {}
    Lease(Lease&& o) noexcept : token_(std::exchange(o.token_, nullptr)), session_(o.session_), broken_(o.broken_) {}
    Lease(const Lease&) = delete;
    ~Lease() {
      if (token_) token_->Release(session_, broken_);
    }
    CK_SESSION_HANDLE get() const { return session_; }
    void MarkBroken() { broken_ = true; }

   private:
    Token* token_;
    CK_SESSION_HANDLE session_;
    bool broken_ = false;
  };

  Result<Lease> Acquire() {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return !idle_.empty() || open_ < max_sessions_; });
      if (!idle_.empty()) {
        CK_SESSION_HANDLE s = idle_.back();
        idle_.pop_back();
        return Lease(this, s);
      }
      ++open_;  // reserve a slot while opening outside the lock
    }
    CK_SESSION_HANDLE s = 0;
    CK_RV rv = api_->OpenSession(slot_, &s);
    if (rv == CKR_OK) {
      Status login = LoginSession(s);
      if (login.ok()) return Lease(this, s);
      api_->CloseSession(s);
      Forget();
      return std::move(login).error();
    }
    Forget();
    return Translate(rv, "opening a session");
  }

  // The whole process shares one login per token (PKCS#11 v2.40 §5.6), so "already logged in"
  // says nothing about this Token's PIN: it is accepted only when this process logged in to the
  // token with the same PIN, and a Token without a PIN may not use a login made with one.
  Status LoginSession(CK_SESSION_HANDLE s) {
    LoginRecord& record = api_->logins();
    auto held = record.Hold();
    if (!pin_) {
      if (record.Knows(held, login_name_)) {
        return PermissionDenied("PKCS#11 " + description_ +
                                " is logged in by this process with a PIN; a key URI without a PIN may not use that "
                                "login: add \"pin-source\" or \"pin-value\"");
      }
      return Ok();
    }
    CK_RV rv = api_->Login(s, pin_->value());
    if (rv == CKR_OK) {
      record.Remember(held, login_name_, pin_->value());
      return Ok();
    }
    if (rv != CKR_USER_ALREADY_LOGGED_IN) return Translate(rv, "logging in");
    switch (record.Compare(held, login_name_, pin_->value())) {
      case LoginRecord::Match::kSamePin:
        return Ok();
      case LoginRecord::Match::kOtherPin:
        return PermissionDenied("PKCS#11 login to " + description_ +
                                " refused: the PIN differs from the one this process is logged in with (the PIN is "
                                "wrong)");
      case LoginRecord::Match::kUnknown:
        break;
    }
    return PermissionDenied("PKCS#11 login to " + description_ +
                            " refused: the token is already logged in, not by certwright's own login, so the PIN "
                            "cannot be verified");
  }

  Error Translate(CK_RV rv, std::string_view operation) const {
    std::string what = "PKCS#11 " + std::string(operation) + " on " + description_ + " failed: " + ReturnValueName(rv);
    switch (rv) {
      case CKR_PIN_INCORRECT:
      case CKR_PIN_INVALID:
      case CKR_PIN_LEN_RANGE:
        return PermissionDenied(what + " (the PIN is wrong)");
      case CKR_PIN_LOCKED:
        return PermissionDenied(what + " (the PIN is locked; the security officer must reset it)");
      case CKR_PIN_EXPIRED:
        return PermissionDenied(what + " (the PIN has expired)");
      case CKR_USER_PIN_NOT_INITIALIZED:
        return PermissionDenied(what + " (the token has no user PIN yet)");
      case CKR_MECHANISM_INVALID:
      case CKR_MECHANISM_PARAM_INVALID:
      case CKR_KEY_TYPE_INCONSISTENT:
      case CKR_KEY_FUNCTION_NOT_PERMITTED:
      case CKR_KEY_SIZE_RANGE:
      case CKR_TEMPLATE_INCONSISTENT:
      case CKR_ATTRIBUTE_VALUE_INVALID:
        return InvalidArgument(what);
      case CKR_TOKEN_WRITE_PROTECTED:
      case CKR_SESSION_READ_ONLY:
        return PermissionDenied(what + " (the token is read-only)");
      default:
        return Unavailable(what);
    }
  }

  bool PinMatches(const std::optional<SecretString>& pin) const {
    if (!pin_ || !pin) return !pin_ && !pin;
    return pin_->Equals(pin->value());
  }

  Pkcs11Api& api() { return *api_; }
  CK_SLOT_ID slot() const { return slot_; }
  const std::string& description() const { return description_; }

 private:
  void Release(CK_SESSION_HANDLE s, bool broken) {
    std::vector<CK_SESSION_HANDLE> stale;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!broken) {
        idle_.push_back(s);
        cv_.notify_one();
        return;
      }
      // A fault on one session usually means all of them are gone (device reset, sessions
      // closed underneath): drop every idle one so the retry opens a fresh, logged-in session.
      stale.swap(idle_);
      stale.push_back(s);
      open_ -= stale.size();
      cv_.notify_all();
    }
    for (CK_SESSION_HANDLE h : stale) api_->CloseSession(h);
  }

  void Forget() {
    std::lock_guard<std::mutex> lock(mutex_);
    --open_;
    cv_.notify_one();
  }

  std::shared_ptr<Pkcs11Api> api_;
  CK_SLOT_ID slot_;
  std::string login_name_;
  std::string description_;
  std::optional<SecretString> pin_;
  size_t max_sessions_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<CK_SESSION_HANDLE> idle_;
  size_t open_ = 0;
};

namespace {

// Runs `op` on a pooled session, retrying on a fresh session after session/device faults.
template <typename Op>
CK_RV WithSession(Token& token, Op op, Status* acquire_error) {
  CK_RV rv = CKR_GENERAL_ERROR;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto lease = token.Acquire();
    if (!lease) {
      *acquire_error = std::move(lease).error();
      return CKR_GENERAL_ERROR;
    }
    rv = op(lease->get());
    if (!IsSessionFault(rv)) return rv;
    lease->MarkBroken();
  }
  return rv;
}

Result<std::vector<CK_OBJECT_HANDLE>> FindKeyObjects(Token& token, CK_SESSION_HANDLE s, const Pkcs11Uri& uri,
                                                     CK_OBJECT_CLASS cls) {
  std::vector<CK_ATTRIBUTE> match = {Attr(CKA_CLASS, &cls, sizeof cls)};
  if (uri.object) match.push_back(Attr(CKA_LABEL, uri.object->data(), uri.object->size()));
  if (uri.id) match.push_back(Attr(CKA_ID, uri.id->data(), uri.id->size()));
  std::vector<CK_OBJECT_HANDLE> found;
  CK_RV rv = token.api().FindObjects(s, match, 4, &found);
  if (rv != CKR_OK) return token.Translate(rv, "finding " + uri.KeyDescription());
  return found;
}

Result<Bytes> GetBytes(Token& token, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
                       std::string_view what) {
  CK_ATTRIBUTE a = Attr(type, nullptr, 0);
  CK_RV rv = token.api().GetAttributeValue(s, obj, std::span(&a, 1));
  if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    return token.Translate(rv == CKR_OK ? CKR_ATTRIBUTE_TYPE_INVALID : rv, "reading " + std::string(what));
  }
  Bytes out(a.ulValueLen);
  a.pValue = out.data();
  rv = token.api().GetAttributeValue(s, obj, std::span(&a, 1));
  if (rv != CKR_OK) return token.Translate(rv, "reading " + std::string(what));
  out.resize(a.ulValueLen);
  return out;
}

// CKA_EC_POINT is a DER OCTET STRING around the point; some modules return the bare point.
Bytes UnwrapPoint(const Bytes& raw, size_t bare_size) {
  if (raw.size() == bare_size) return raw;
  const unsigned char* p = raw.data();
  ossl::Asn1OctetString os(d2i_ASN1_OCTET_STRING(nullptr, &p, static_cast<long>(raw.size())));
  if (!os) return raw;
  return Bytes(ASN1_STRING_get0_data(os.get()), ASN1_STRING_get0_data(os.get()) + ASN1_STRING_length(os.get()));
}

// An OpenSSL public key of `type` ("RSA", "EC") from the parameters in `bld`.
Result<ossl::PKey> PublicKeyFromParams(const char* type, OSSL_PARAM_BLD* bld, const Pkcs11Uri& uri) {
  std::unique_ptr<OSSL_PARAM, ossl::Deleter<OSSL_PARAM_free>> params(OSSL_PARAM_BLD_to_param(bld));
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return Internal(std::string("building the ") + type + " public key of " + uri.KeyDescription() + ": " +
                    ossl::DrainErrors());
  }
  return ossl::PKey(key);
}

Result<ossl::PKey> PublicKeyFromToken(Token& token, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
                                      std::optional<CK_OBJECT_HANDLE> pub, const Pkcs11Uri& uri) {
  CK_KEY_TYPE key_type = 0;
  CK_ATTRIBUTE kt = Attr(CKA_KEY_TYPE, &key_type, sizeof key_type);
  CK_RV rv = token.api().GetAttributeValue(s, priv, std::span(&kt, 1));
  if (rv != CKR_OK) return token.Translate(rv, "reading the key type of " + uri.KeyDescription());

  if (key_type == CKK_RSA) {
    CK_OBJECT_HANDLE src = pub.value_or(priv);
    CW_ASSIGN_OR_RETURN(Bytes n, GetBytes(token, s, src, CKA_MODULUS, "the RSA modulus"));
    CW_ASSIGN_OR_RETURN(Bytes e, GetBytes(token, s, src, CKA_PUBLIC_EXPONENT, "the RSA public exponent"));
    ossl::BigNum bn_n(BN_bin2bn(n.data(), static_cast<int>(n.size()), nullptr));
    ossl::BigNum bn_e(BN_bin2bn(e.data(), static_cast<int>(e.size()), nullptr));
    std::unique_ptr<OSSL_PARAM_BLD, ossl::Deleter<OSSL_PARAM_BLD_free>> bld(OSSL_PARAM_BLD_new());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get());
    return PublicKeyFromParams("RSA", bld.get(), uri);
  }
  if (!pub) {
    return NotFound("no public key object with " + uri.KeyDescription() + " on " + token.description() +
                    " (needed to read an EC public key)");
  }
  if (key_type == CKK_EC) {
    CW_ASSIGN_OR_RETURN(Bytes params_der, GetBytes(token, s, *pub, CKA_EC_PARAMS, "the EC parameters"));
    const unsigned char* p = params_der.data();
    std::unique_ptr<ASN1_OBJECT, ossl::Deleter<ASN1_OBJECT_free>> oid(
        d2i_ASN1_OBJECT(nullptr, &p, static_cast<long>(params_der.size())));
    int nid = oid ? OBJ_obj2nid(oid.get()) : NID_undef;
    if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1) {
      return InvalidArgument(uri.KeyDescription() + " on " + token.description() +
                             " uses an EC curve certwright does not sign with (use P-256 or P-384)");
    }
    size_t field = nid == NID_secp384r1 ? 48 : 32;
    CW_ASSIGN_OR_RETURN(Bytes raw, GetBytes(token, s, *pub, CKA_EC_POINT, "the EC point"));
    Bytes point = UnwrapPoint(raw, 1 + 2 * field);
    std::unique_ptr<OSSL_PARAM_BLD, ossl::Deleter<OSSL_PARAM_BLD_free>> bld(OSSL_PARAM_BLD_new());
    OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(nid), 0);
    OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    return PublicKeyFromParams("EC", bld.get(), uri);
  }
  if (key_type == CKK_EC_EDWARDS) {
    CW_ASSIGN_OR_RETURN(Bytes raw, GetBytes(token, s, *pub, CKA_EC_POINT, "the Ed25519 point"));
    Bytes point = UnwrapPoint(raw, 32);
    EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, point.data(), point.size());
    if (key == nullptr) return Internal("building the Ed25519 public key: " + ossl::DrainErrors());
    return ossl::PKey(key);
  }
  return InvalidArgument(uri.KeyDescription() + " on " + token.description() +
                         " is of a PKCS#11 key type certwright does not sign with");
}

// The Token holds the PIN from here on; the URI kept with a key must not.
void ForgetPin(Pkcs11Uri& uri) {
  if (uri.pin_value) {
    Wipe(*uri.pin_value);
    uri.pin_value.reset();
  }
}

// The PIN of the URI, written straight into `pin` (a Result<std::string> would leave copies in
// moved-from strings that nobody wipes).
Status ReadPin(const Pkcs11Uri& uri, SecretString* pin) {
  if (uri.pin_value) {
    pin->Assign(*uri.pin_value);
    return Ok();
  }
  auto text = ReadFileBounded(*uri.pin_source, 1024);
  if (!text) return std::move(text).error().WithContext("pkcs11 URI pin-source");
  pin->Assign(std::string_view(*text).substr(0, text->find_first_of("\r\n")));
  Wipe(*text);
  if (pin->empty()) return InvalidArgument("pkcs11 URI pin-source " + *uri.pin_source + " is empty");
  return Ok();
}

// The one token a URI selects in a module.
struct TokenMatch {
  CK_SLOT_ID slot = 0;
  std::string serial;  // CK_TOKEN_INFO.serialNumber without padding
  bool login_required = false;
};

Result<TokenMatch> FindToken(Pkcs11Api& api, const Pkcs11Uri& uri) {
  std::vector<CK_SLOT_ID> slots;
  CK_RV rv = api.GetSlotList(&slots);
  if (rv != CKR_OK) {
    return Unavailable("PKCS#11 module " + uri.module_path + ": listing slots failed: " + ReturnValueName(rv));
  }
  std::vector<TokenMatch> matches;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    if (api.GetTokenInfo(slot, &info) != CKR_OK) continue;
    if (!(info.flags & CKF_TOKEN_INITIALIZED)) continue;
    const std::string serial = Trimmed(info.serialNumber, sizeof info.serialNumber);
    if (uri.slot_id && *uri.slot_id != slot) continue;
    if (uri.token && *uri.token != Trimmed(info.label, sizeof info.label)) continue;
    if (uri.serial && *uri.serial != serial) continue;
    if (uri.manufacturer && *uri.manufacturer != Trimmed(info.manufacturerID, sizeof info.manufacturerID)) continue;
    if (uri.model && *uri.model != Trimmed(info.model, sizeof info.model)) continue;
    matches.push_back(TokenMatch{slot, serial, (info.flags & CKF_LOGIN_REQUIRED) != 0});
  }
  // The message does not list the module's tokens: a namespaced Issuer may name a module other
  // issuers' tokens are in, and their labels are not its business.
  if (matches.empty()) return NotFound("no " + uri.TokenDescription() + " in PKCS#11 module " + uri.module_path);
  if (matches.size() > 1) {
    return InvalidArgument(std::to_string(matches.size()) + " tokens match " + uri.TokenDescription() +
                           "; add \"serial\" or \"slot-id\" to the URI");
  }
  return matches.front();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Pkcs11Key::Pkcs11Key(std::shared_ptr<Token> token, Pkcs11Uri uri, ossl::PKey public_key, KeySpec spec,
                     CK_OBJECT_HANDLE handle, std::string description)
    : token_(std::move(token)),
      uri_(std::move(uri)),
      description_(std::move(description)),
      public_key_(std::move(public_key)),
      spec_(spec),
      handle_(handle) {}

CK_SLOT_ID Pkcs11Key::slot_id() const { return token_->slot(); }

Result<CK_OBJECT_HANDLE> Pkcs11Key::RefindHandle() {
  Status acquire = Ok();
  std::vector<CK_OBJECT_HANDLE> found;
  Status find = Ok();
  CK_RV rv = WithSession(*token_, [&](CK_SESSION_HANDLE s) -> CK_RV {
    auto r = FindKeyObjects(*token_, s, uri_, CKO_PRIVATE_KEY);
    if (!r) {
      find = std::move(r).error();
      return CKR_OK;
    }
    found = *r;
    return CKR_OK;
  }, &acquire);
  if (!acquire.ok()) return std::move(acquire).error();
  if (rv != CKR_OK) return token_->Translate(rv, "finding " + description_);
  if (!find.ok()) return std::move(find).error();
  if (found.size() != 1) {
    return NotFound("the private key " + description_ + " is no longer on " + token_->description());
  }
  std::lock_guard<std::mutex> lock(handle_mutex_);
  handle_ = found[0];
  return handle_;
}

Result<Bytes> Pkcs11Key::Sign(SignatureScheme scheme, std::span<const uint8_t> message) {
  if (!SchemeFitsKey(scheme, spec_)) {
    return InvalidArgument(std::string(SchemeName(scheme)) + " cannot be used with the " + KeySpecName(spec_) +
                           " key " + description_);
  }
  // Hash here: SoftHSM2 and most HSMs offer raw CKM_ECDSA / CKM_RSA_PKCS, not hash-and-sign.
  Bytes input;
  CK_MECHANISM mech{CKM_ECDSA, nullptr, 0};
  CK_RSA_PKCS_PSS_PARAMS pss{};
  if (const EVP_MD* md = SchemeDigest(scheme)) {
    input.resize(static_cast<size_t>(EVP_MD_get_size(md)));
    unsigned int len = 0;
    if (EVP_Digest(message.data(), message.size(), input.data(), &len, md, nullptr) != 1) {
      return Internal("hashing for signature: " + ossl::DrainErrors());
    }
  }
  switch (scheme) {
    case SignatureScheme::kEcdsaSha256:
    case SignatureScheme::kEcdsaSha384:
      mech.mechanism = CKM_ECDSA;
      break;
    case SignatureScheme::kEd25519:
      mech.mechanism = CKM_EDDSA;
      input.assign(message.begin(), message.end());
      break;
    case SignatureScheme::kRsaPkcs1Sha256:
    case SignatureScheme::kRsaPkcs1Sha384:
    case SignatureScheme::kRsaPkcs1Sha512: {
      // DigestInfo prefixes, RFC 8017 §9.2 note 1 (decoded once, not per signature).
      static const Bytes kSha256 = FromHex("3031300d060960864801650304020105000420");
      static const Bytes kSha384 = FromHex("3041300d060960864801650304020205000430");
      static const Bytes kSha512 = FromHex("3051300d060960864801650304020305000440");
      const Bytes& prefix = scheme == SignatureScheme::kRsaPkcs1Sha256   ? kSha256
                            : scheme == SignatureScheme::kRsaPkcs1Sha384 ? kSha384
                                                                         : kSha512;
      input.insert(input.begin(), prefix.begin(), prefix.end());
      mech.mechanism = CKM_RSA_PKCS;
      break;
    }
    case SignatureScheme::kRsaPssSha256:
    case SignatureScheme::kRsaPssSha384: {
      bool sha256 = scheme == SignatureScheme::kRsaPssSha256;
      pss.hashAlg = sha256 ? CKM_SHA256 : CKM_SHA384;
      pss.mgf = sha256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA384;
      pss.sLen = sha256 ? 32 : 48;
      mech = CK_MECHANISM{CKM_RSA_PKCS_PSS, &pss, sizeof pss};
      break;
    }
  }

  Bytes signature;
  for (int attempt = 0; attempt < 2; ++attempt) {
    CK_OBJECT_HANDLE handle;
    {
      std::lock_guard<std::mutex> lock(handle_mutex_);
      handle = handle_;
    }
    Status acquire = Ok();
    CK_RV rv = WithSession(*token_, [&](CK_SESSION_HANDLE s) {
      signature.assign(1024, 0);
      return token_->api().Sign(s, &mech, handle, input, &signature);
    }, &acquire);
    if (!acquire.ok()) return std::move(acquire).error();
    if (IsStaleHandle(rv) && attempt == 0) {
      CW_RETURN_IF_ERROR(RefindHandle());
      continue;
    }
    if (rv != CKR_OK) return token_->Translate(rv, "signing with " + description_);
    break;
  }

  if (spec_.type != KeyType::kEcdsa) return signature;
  // CKM_ECDSA returns r || s; X.509 carries DER ECDSA-Sig-Value (RFC 3279 §2.2.3).
  if (signature.empty() || signature.size() % 2 != 0) {
    return Internal("the token returned an ECDSA signature of odd length " + std::to_string(signature.size()));
  }
  size_t half = signature.size() / 2;
  std::unique_ptr<ECDSA_SIG, ossl::Deleter<ECDSA_SIG_free>> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(signature.data(), static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(signature.data() + half, static_cast<int>(half), nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return Internal("encoding the ECDSA signature: " + ossl::DrainErrors());
  }
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return Internal("encoding the ECDSA signature: " + ossl::DrainErrors());
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

Result<KeyCustody> Pkcs11Key::Custody() {
  CK_BBOOL token = 0, priv = 0, sensitive = 0, always = 0, extractable = 1, never = 0;
  std::array<CK_ATTRIBUTE, 6> attrs = {
      Attr(CKA_TOKEN, &token, 1),           Attr(CKA_PRIVATE, &priv, 1),
      Attr(CKA_SENSITIVE, &sensitive, 1),   Attr(CKA_ALWAYS_SENSITIVE, &always, 1),
      Attr(CKA_EXTRACTABLE, &extractable, 1), Attr(CKA_NEVER_EXTRACTABLE, &never, 1)};
  CK_OBJECT_HANDLE handle;
  {
    std::lock_guard<std::mutex> lock(handle_mutex_);
    handle = handle_;
  }
  Status acquire = Ok();
  CK_RV rv = WithSession(*token_, [&](CK_SESSION_HANDLE s) {
    return token_->api().GetAttributeValue(s, handle, attrs);
  }, &acquire);
  if (!acquire.ok()) return std::move(acquire).error();
  if (rv != CKR_OK) return token_->Translate(rv, "reading the attributes of " + description_);
  return KeyCustody{token == CK_TRUE, priv == CK_TRUE, sensitive == CK_TRUE, always == CK_TRUE,
                    extractable == CK_TRUE, never == CK_TRUE};
}

// ---------------------------------------------------------------------------------------------

Pkcs11Backend::Pkcs11Backend(Options options) : options_(options), loader_(LoadModule) {}

Result<std::shared_ptr<Token>> Pkcs11Backend::OpenToken(const Pkcs11Uri& uri) {
  std::optional<SecretString> pin;
  if (uri.pin_value || uri.pin_source) {
    pin.emplace();
    CW_RETURN_IF_ERROR(ReadPin(uri, &*pin));
  }
  CW_ASSIGN_OR_RETURN(std::shared_ptr<Pkcs11Api> api, loader_(uri.module_path));
  CW_ASSIGN_OR_RETURN(TokenMatch match, FindToken(*api, uri));
  if (match.login_required && !pin) {
    return PermissionDenied(uri.TokenDescription() + " requires login: add \"pin-source\" or \"pin-value\" to the URI");
  }

  // The token as the module file, serial number and slot name it, whatever the URI's spelling.
  std::string login_name = match.serial + "#" + std::to_string(match.slot);
  const std::string cache_key = api->module_identity() + "/" + login_name;
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto existing = tokens_[cache_key].lock()) {
    // PKCS#11 login state is per token for the whole process: a second user of the token must
    // hold the same PIN, or it would ride on the first one's login.
    if (!existing->PinMatches(pin)) {
      return PermissionDenied("PKCS#11 login to " + uri.TokenDescription() +
                              " refused: the PIN differs from the one this process is logged in with (the PIN is wrong)");
    }
    return existing;
  }
  auto token = std::make_shared<Token>(api, match.slot, std::move(login_name), uri.TokenDescription(), std::move(pin),
                                       options_.max_sessions_per_token);
  // Log in now, so a wrong PIN is reported when the key is loaded rather than at first use.
  auto lease = token->Acquire();
  if (!lease) return std::move(lease).error();
  tokens_[cache_key] = token;
  return token;
}

Result<std::string> Pkcs11Backend::TokenIdentity(const KeyUri& key_uri) {
  CW_ASSIGN_OR_RETURN(Pkcs11Uri uri, Pkcs11Uri::FromKeyUri(key_uri));
  ForgetPin(uri);
  CW_ASSIGN_OR_RETURN(std::shared_ptr<Pkcs11Api> api, loader_(uri.module_path));
  CW_ASSIGN_OR_RETURN(TokenMatch match, FindToken(*api, uri));
  return "pkcs11:" + api->module_identity() + "/" +
         (match.serial.empty() ? "slot-" + std::to_string(match.slot) : PercentEncode(match.serial, ""));
}

Result<std::shared_ptr<SigningKey>> Pkcs11Backend::Load(const KeyUri& key_uri) {
  CW_ASSIGN_OR_RETURN(Pkcs11Uri uri, Pkcs11Uri::FromKeyUri(key_uri));
  auto opened = OpenToken(uri);
  ForgetPin(uri);
  CW_ASSIGN_OR_RETURN(std::shared_ptr<Token> token, std::move(opened));
  CW_ASSIGN_OR_RETURN(auto lease, token->Acquire());
  CW_ASSIGN_OR_RETURN(auto privs, FindKeyObjects(*token, lease.get(), uri, CKO_PRIVATE_KEY));
  if (privs.empty()) return NotFound("no private key with " + uri.KeyDescription() + " on " + token->description());
  if (privs.size() > 1) {
    return InvalidArgument(std::to_string(privs.size()) + " private keys match " + uri.KeyDescription() + " on " +
                           token->description() + "; add \"id\" to the URI");
  }
  CW_ASSIGN_OR_RETURN(auto pubs, FindKeyObjects(*token, lease.get(), uri, CKO_PUBLIC_KEY));
  std::optional<CK_OBJECT_HANDLE> pub;
  if (pubs.size() == 1) pub = pubs[0];
  CW_ASSIGN_OR_RETURN(ossl::PKey public_key, PublicKeyFromToken(*token, lease.get(), privs[0], pub, uri));
  auto spec = KeySpecOf(public_key.get());
  if (!spec) return std::move(spec).error().WithContext(uri.KeyDescription() + " on " + token->description());
  std::string description = uri.KeyDescription();
  return std::shared_ptr<SigningKey>(std::make_shared<Pkcs11Key>(token, std::move(uri), std::move(public_key), *spec,
                                                                 privs[0], std::move(description)));
}

Result<std::shared_ptr<SigningKey>> Pkcs11Backend::Create(const KeyUri& key_uri, const KeySpec& spec) {
  CW_ASSIGN_OR_RETURN(Pkcs11Uri uri, Pkcs11Uri::FromKeyUri(key_uri));
  const std::string described_as = uri.KeyDescription();
  auto opened = OpenToken(uri);
  ForgetPin(uri);
  CW_ASSIGN_OR_RETURN(std::shared_ptr<Token> token, std::move(opened));
  {
    CW_ASSIGN_OR_RETURN(auto lease, token->Acquire());
    CW_ASSIGN_OR_RETURN(auto existing, FindKeyObjects(*token, lease.get(), uri, CKO_PRIVATE_KEY));
    if (!existing.empty()) {
      return AlreadyExists("a private key with " + uri.KeyDescription() + " is already on " + token->description() +
                           "; keys are never overwritten");
    }
    Bytes id = uri.id.value_or(Bytes(16));
    if (!uri.id && RAND_bytes(id.data(), static_cast<int>(id.size())) != 1) {
      return Internal("generating a key id: " + ossl::DrainErrors());
    }
    const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    std::vector<CK_ATTRIBUTE> pub = {Attr(CKA_TOKEN, &yes, 1),   Attr(CKA_VERIFY, &yes, 1),
                                     Attr(CKA_PRIVATE, &no, 1),  Attr(CKA_ENCRYPT, &no, 1),
                                     Attr(CKA_WRAP, &no, 1),     Attr(CKA_ID, id.data(), id.size())};
    // CA keys: persistent, usable only after login, never readable, never exportable.
    std::vector<CK_ATTRIBUTE> priv = {Attr(CKA_TOKEN, &yes, 1),        Attr(CKA_PRIVATE, &yes, 1),
                                      Attr(CKA_SENSITIVE, &yes, 1),    Attr(CKA_EXTRACTABLE, &no, 1),
                                      Attr(CKA_SIGN, &yes, 1),         Attr(CKA_DECRYPT, &no, 1),
                                      Attr(CKA_DERIVE, &no, 1),        Attr(CKA_UNWRAP, &no, 1),
                                      Attr(CKA_ID, id.data(), id.size())};
    if (uri.object) {
      pub.push_back(Attr(CKA_LABEL, uri.object->data(), uri.object->size()));
      priv.push_back(Attr(CKA_LABEL, uri.object->data(), uri.object->size()));
    }
    CK_MECHANISM mech{};
    Bytes ec_params;
    const CK_ULONG modulus_bits = static_cast<CK_ULONG>(spec.bits);
    const CK_BYTE exponent[] = {0x01, 0x00, 0x01};
    switch (spec.type) {
      case KeyType::kEcdsa:
        if (spec.bits != 256 && spec.bits != 384) return InvalidArgument("ECDSA keys must be P-256 or P-384");
        mech.mechanism = CKM_EC_KEY_PAIR_GEN;
        ec_params = spec.bits == 256 ? FromHex("06082a8648ce3d030107") : FromHex("06052b81040022");
        pub.push_back(Attr(CKA_EC_PARAMS, ec_params.data(), ec_params.size()));
        break;
      case KeyType::kEd25519:
        mech.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
        ec_params = FromHex("06032b6570");  // id-Ed25519, RFC 8410
        pub.push_back(Attr(CKA_EC_PARAMS, ec_params.data(), ec_params.size()));
        break;
      case KeyType::kRsa:
        if (spec.bits < 2048 || spec.bits > 8192) return InvalidArgument("RSA keys must be 2048 to 8192 bits");
        mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
        pub.push_back(Attr(CKA_MODULUS_BITS, &modulus_bits, sizeof modulus_bits));
        pub.push_back(Attr(CKA_PUBLIC_EXPONENT, exponent, sizeof exponent));
        break;
    }
    CK_OBJECT_HANDLE pub_handle = 0, priv_handle = 0;
    CK_RV rv = token->api().GenerateKeyPair(lease.get(), &mech, pub, priv, &pub_handle, &priv_handle);
    if (rv != CKR_OK) {
      if (IsSessionFault(rv)) lease.MarkBroken();
      return token->Translate(rv, "generating a " + KeySpecName(spec) + " key pair");
    }
    if (!uri.id) uri.id = id;  // so Load finds exactly this pair even if labels repeat later
  }
  CW_ASSIGN_OR_RETURN(auto lease, token->Acquire());
  CW_ASSIGN_OR_RETURN(auto privs, FindKeyObjects(*token, lease.get(), uri, CKO_PRIVATE_KEY));
  CW_ASSIGN_OR_RETURN(auto pubs, FindKeyObjects(*token, lease.get(), uri, CKO_PUBLIC_KEY));
  if (privs.size() != 1 || pubs.size() != 1) {
    return Internal("the key pair generated on " + token->description() + " cannot be found again");
  }
  CW_ASSIGN_OR_RETURN(ossl::PKey public_key, PublicKeyFromToken(*token, lease.get(), privs[0], pubs[0], uri));
  CW_ASSIGN_OR_RETURN(KeySpec actual, KeySpecOf(public_key.get()));
  // Messages name the key as the caller did, without the generated id used for lookups.
  return std::shared_ptr<SigningKey>(std::make_shared<Pkcs11Key>(token, uri, std::move(public_key), actual, privs[0],
                                                                 described_as));
}

}  // namespace certwright::signer::pkcs11
