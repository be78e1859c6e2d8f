#include "policies.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <functional>

#include "certwright/controllers/secrets.h"
#include "certwright/signer/pem.h"

namespace certwright::controllers::certificates {

SecretState SecretState::From(const kube::Json* secret) {
  SecretState s;
  if (secret == nullptr) return s;
  s.exists = true;
  s.crt_pem = SecretValue(*secret, "tls.crt").value_or("");
  s.key_pem = SecretValue(*secret, "tls.key").value_or("");
  if (!s.crt_pem.empty()) {
    if (auto chain = signer::ParseCertificates(s.crt_pem); chain.ok() && !chain->empty()) {
      s.leaf = std::move(chain->front());
    }
  }
  if (!s.key_pem.empty()) {
    if (auto key = signer::ParsePrivateKey(s.key_pem); key.ok()) s.key = std::move(*key);
  }
  const kube::Json annotations = (*secret)["metadata"].value("annotations", kube::Json::object());
  s.spec_hash = annotations.value(api::annotations::kSpecHash, "");
  s.issuer_ca_sha256 = annotations.value(api::annotations::kIssuerCaHash, "");
  s.reissue_token = annotations.value(api::annotations::kReissueToken, "");
  return s;
}

namespace {

using Check = std::function<std::optional<Trigger>(const PolicyInput&)>;

const std::vector<Check>& Chain() {
  static const std::vector<Check> chain = {
      // No Secret yet, or it was deleted.
      [](const PolicyInput& in) -> std::optional<Trigger> {
        if (in.secret.exists) return std::nullopt;
        return Trigger{"DoesNotExist", "Issuing certificate as Secret does not exist"};
      },
      // A Secret without a certificate or key (emptied by hand, or half made by someone else).
      [](const PolicyInput& in) -> std::optional<Trigger> {
        if (in.secret.crt_pem.empty() || in.secret.key_pem.empty()) {
          return Trigger{"MissingData", "Issuing certificate as Secret does not contain a certificate and a key"};
        }
        return std::nullopt;
      },
      [](const PolicyInput& in) -> std::optional<Trigger> {
        if (in.secret.key) return std::nullopt;
        return Trigger{"InvalidKey", "Issuing certificate as Secret's tls.key is not a valid private key"};
      },
      [](const PolicyInput& in) -> std::optional<Trigger> {
        if (in.secret.leaf) return std::nullopt;
        return Trigger{"InvalidCertificate", "Issuing certificate as Secret's tls.crt is not a valid certificate"};
      },
      // tls.key was replaced (or tls.crt): the pair is useless to a server.
      [](const PolicyInput& in) -> std::optional<Trigger> {
        if (EVP_PKEY_eq(X509_get0_pubkey(in.secret.leaf.get()), in.secret.key.get()) == 1) return std::nullopt;
        return Trigger{"SecretMismatch", "Issuing certificate as Secret's private key does not match its certificate"};
      },
      // The spec asks for something else: names, subject, usages, key, duration, issuer.
      [](const PolicyInput& in) -> std::optional<Trigger> {
        if (in.secret.spec_hash == api::SpecHash(in.spec)) return std::nullopt;
        return Trigger{"SpecChanged", "Issuing certificate as the Certificate's spec changed"};
      },
      // The issuer has a new CA, or the certificate was not signed by it (the Secret was edited).
      [](const PolicyInput& in) -> std::optional<Trigger> {
        if (!in.issuer.ca) {
          // selfSigned: the certificate must be signed by its own key.
          if (X509_verify(in.secret.leaf.get(), in.secret.key.get()) == 1) return std::nullopt;
          return Trigger{"IncorrectIssuer", "Issuing certificate as Secret's certificate is not self-signed"};
        }
        if (in.secret.issuer_ca_sha256 != in.issuer.ca_sha256) {
          return Trigger{"IssuerChanged", "Issuing certificate as the issuer's CA certificate changed"};
        }
        if (X509_verify(in.secret.leaf.get(), X509_get0_pubkey(in.issuer.ca->certificate())) != 1) {
          return Trigger{"IncorrectIssuer", "Issuing certificate as Secret's certificate was not signed by the issuer"};
        }
        return std::nullopt;
      },
      [](const PolicyInput& in) -> std::optional<Trigger> {
        const auto not_after = signer::ToTimePoint(X509_get0_notAfter(in.secret.leaf.get()));
        if (in.now < not_after) return std::nullopt;
        return Trigger{"Expired", "Renewing certificate as it expired on " + api::FormatTime(not_after)};
      },
      [](const PolicyInput& in) -> std::optional<Trigger> {
        const auto not_before = signer::ToTimePoint(X509_get0_notBefore(in.secret.leaf.get()));
        const auto not_after = signer::ToTimePoint(X509_get0_notAfter(in.secret.leaf.get()));
        const auto renew_at = api::RenewalTime(in.spec, not_before, not_after);
        if (in.now < renew_at) return std::nullopt;
        return Trigger{"Renewing", "Renewing certificate as renewal was scheduled at " + api::FormatTime(renew_at)};
      },
      // The issuer asked for every certificate again (the re-issue drill).
      [](const PolicyInput& in) -> std::optional<Trigger> {
        if (in.issuer.reissue_token.empty() || in.secret.reissue_token == in.issuer.reissue_token) return std::nullopt;
        return Trigger{"ReissueRequested", "Re-issuing certificate as its issuer asked for it (" +
                                               std::string(api::annotations::kReissue) + "=" +
                                               in.issuer.reissue_token + ")"};
      },
  };
  return chain;
}

}  // namespace

std::optional<Trigger> NeedsIssuance(const PolicyInput& in) {
  for (const auto& check : Chain()) {
    if (auto t = check(in)) return t;
  }
  return std::nullopt;
}

}  // namespace certwright::controllers::certificates
