#include "file/file_backend.h"

#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "certwright/signer/pem.h"

namespace certwright::signer {

namespace {

class SoftwareKey final : public SigningKey {
 public:
  SoftwareKey(ossl::PKey key, KeySpec spec, std::string uri)
      : key_(std::move(key)), spec_(spec), uri_(std::move(uri)) {}

  // signer::SigningKey
  std::string uri() const override { return uri_; }
  KeySpec spec() const override { return spec_; }
  EVP_PKEY* public_key() const override { return key_.get(); }
  std::string_view backend() const override { return "file"; }

  Result<Bytes> Sign(SignatureScheme scheme, std::span<const uint8_t> message) override {
    if (!SchemeFitsKey(scheme, spec_)) {
      return InvalidArgument(std::string(SchemeName(scheme)) + " cannot be used with a " + KeySpecName(spec_) + " key");
    }
    ossl::MdCtx ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, SchemeDigest(scheme), nullptr, key_.get()) != 1) {
      return Internal("initialising signature: " + ossl::DrainErrors());
    }
    if (SchemeIsPss(scheme) && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                                EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
      return Internal("configuring RSA-PSS: " + ossl::DrainErrors());
    }
    size_t len = 0;
    if (EVP_DigestSign(ctx.get(), nullptr, &len, message.data(), message.size()) != 1) {
      return Internal("sizing signature: " + ossl::DrainErrors());
    }
    Bytes sig(len);
    if (EVP_DigestSign(ctx.get(), sig.data(), &len, message.data(), message.size()) != 1) {
      return Internal("signing: " + ossl::DrainErrors());
    }
    sig.resize(len);
    return sig;
  }

 private:
  ossl::PKey key_;
  KeySpec spec_;
  std::string uri_;
};

Status WritePrivateKeyExclusive(const std::string& path, EVP_PKEY* key) {
  // O_EXCL: a key file is never overwritten, even by a race with another writer.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    if (e == EEXIST) return AlreadyExists(path + ": a file is already there; keys are never overwritten");
    return InvalidArgument(path + ": cannot create key file: " + std::strerror(e));
  }
  ossl::Bio mem(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(mem.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ::close(fd);
    ::unlink(path.c_str());
    return Internal("encoding private key: " + ossl::DrainErrors());
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(mem.get(), &data);
  bool ok = ::write(fd, data, static_cast<size_t>(len)) == len && ::fsync(fd) == 0;
  int e = errno;
  OPENSSL_cleanse(data, static_cast<size_t>(len));
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return InvalidArgument(path + ": writing key file failed: " + std::strerror(e));
  }
  return Ok();
}

}  // namespace

Result<std::shared_ptr<SigningKey>> SigningKeyFromPKey(ossl::PKey key, std::string name) {
  CW_ASSIGN_OR_RETURN(KeySpec spec, KeySpecOf(key.get()));
  return std::shared_ptr<SigningKey>(std::make_shared<SoftwareKey>(std::move(key), spec, std::move(name)));
}

Result<std::shared_ptr<SigningKey>> SigningKeyFromPem(std::string_view pem, std::string name) {
  auto key = ParsePrivateKey(pem);
  if (!key) return std::move(key).error().WithContext(name);
  auto out = SigningKeyFromPKey(std::move(*key), name);
  if (!out) return std::move(out).error().WithContext(name);
  return out;
}

Result<std::shared_ptr<SigningKey>> FileBackend::Load(const KeyUri& uri) {
  auto pem = ReadFileBounded(uri.file_path());
  if (!pem) return std::move(pem).error().WithContext("file key");
  auto key = SigningKeyFromPem(*pem, uri.Redacted());
  OPENSSL_cleanse(pem->data(), pem->size());
  return key;
}

Result<std::shared_ptr<SigningKey>> FileBackend::Create(const KeyUri& uri, const KeySpec& spec) {
  CW_ASSIGN_OR_RETURN(ossl::PKey key, GenerateKey(spec));
  CW_RETURN_IF_ERROR(WritePrivateKeyExclusive(uri.file_path(), key.get()));
  return SigningKeyFromPKey(std::move(key), uri.Redacted());
}

}  // namespace certwright::signer
