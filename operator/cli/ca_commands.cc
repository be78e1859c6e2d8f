// `certwright ca init` and `certwright sign`.
#include <openssl/crypto.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "certwright/signer/duration.h"
#include "certwright/signer/key_backend.h"
#include "certwright/signer/pem.h"
#include "certwright/signer/x509.h"
#include "cli/commands.h"
#include "cli/flags.h"
#ifdef CERTWRIGHT_WITH_PKCS11
#include "pkcs11/pkcs11_backend.h"
#endif

namespace certwright::cli {

namespace {

using signer::KeySpec;

int Fail(const Error& e) {
  std::cerr << "certwright: error: " << e.message() << "\n";
  return e.kind() == ErrorKind::kInvalidArgument && e.message().rfind("flag ", 0) == 0 ? kExitUsage : kExitFailure;
}

int UsageError(const std::string& message, const std::string& usage) {
  std::cerr << "certwright: error: " << message << "\n" << usage;
  return kExitUsage;
}

// Writes to a temporary file and renames it into place, so a failure never leaves half a file.
Status WriteFileAtomic(const std::string& path, const std::string& data) {
  if (path == "-") {
    std::cout << data;
    std::cout.flush();
    return std::cout ? Ok() : Status(Internal("writing to standard output failed"));
  }
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << data;
    out.flush();
    if (!out) return InvalidArgument(path + ": cannot write");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return InvalidArgument(path + ": cannot write");
  }
  return Ok();
}

Result<std::string> ReadInput(const std::string& path) {
  if (path == "-") {
    std::string data;
    data.resize(signer::kMaxInputBytes + 1);
    std::cin.read(data.data(), static_cast<std::streamsize>(data.size()));
    data.resize(static_cast<size_t>(std::cin.gcount()));
    if (data.size() > signer::kMaxInputBytes) {
      return InvalidArgument("standard input is larger than the limit of " + std::to_string(signer::kMaxInputBytes) +
                             " bytes");
    }
    return data;
  }
  return signer::ReadFileBounded(path);
}

Result<std::chrono::seconds> PositiveDuration(const std::optional<std::string>& text, std::chrono::seconds fallback) {
  if (!text) return fallback;
  auto d = ParseDuration(*text);
  if (!d) return std::move(d).error().WithContext("--duration");
  if (d->count() <= 0) return InvalidArgument("--duration: must be positive, got \"" + *text + "\"");
  return *d;
}

std::string Describe(const signer::IssuedCertificate& issued) {
  auto day = [](std::chrono::system_clock::time_point t) {
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    char buf[32];
    std::tm tm{};
    gmtime_r(&tt, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(buf);
  };
  return "serial " + issued.serial_hex + ", valid " + day(issued.not_before) + " to " + day(issued.not_after);
}

void ReportCustody([[maybe_unused]] signer::SigningKey& key) {
#ifdef CERTWRIGHT_WITH_PKCS11
  auto* p11 = dynamic_cast<signer::pkcs11::Pkcs11Key*>(&key);
  if (p11 == nullptr) return;
  auto custody = p11->Custody();
  if (!custody) return;
  std::cerr << "certwright: key custody: sensitive=" << (custody->sensitive ? "yes" : "no")
            << " extractable=" << (custody->extractable ? "yes" : "no")
            << " never-extractable=" << (custody->never_extractable ? "yes" : "no") << "\n";
  if (custody->extractable) {
    std::cerr << "certwright: warning: this key is extractable; CA keys created by certwright never are\n";
  }
#endif
}

const char* kCaInitUsage =
    "usage: certwright ca init --key URI --subject DN [--key-type ecdsa-p256|ecdsa-p384|ed25519|rsa-2048|rsa-3072|rsa-4096]\n"
    "                          [--duration 87600h] [--path-len N] [--rsa-pss] [--out ca.pem] [--csr-out ca.csr]\n";

const char* kSignUsage =
    "usage: certwright sign --ca-key URI --ca-cert ca.pem --csr req.csr|- [--duration 2160h]\n"
    "                       [--usage NAME]... [--rsa-pss] [--out cert.pem]\n";

}  // namespace

int RunCaInit(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"key", "subject", "key-type", "duration", "path-len", "out", "csr-out"},
                            {"rsa-pss", "help"});
  if (!flags) return UsageError(flags.error().message(), kCaInitUsage);
  if (flags->Has("help")) {
    std::cout << kCaInitUsage;
    return kExitOk;
  }
  if (!flags->positional().empty()) return UsageError("unexpected argument \"" + flags->positional()[0] + "\"", kCaInitUsage);
  auto key_uri = flags->Require("key");
  if (!key_uri) return UsageError(key_uri.error().message(), kCaInitUsage);
  auto subject_text = flags->Require("subject");
  if (!subject_text) return UsageError(subject_text.error().message(), kCaInitUsage);

  auto subject = signer::DistinguishedName::Parse(*subject_text);
  if (!subject) return Fail(subject.error().WithContext("--subject"));
  KeySpec spec = KeySpec::EcdsaP256();
  if (auto t = flags->Get("key-type")) {
    auto parsed = signer::ParseKeySpec(*t);
    if (!parsed) return Fail(parsed.error().WithContext("--key-type"));
    spec = *parsed;
  }
  auto duration = PositiveDuration(flags->Get("duration"), std::chrono::hours(24 * 365 * 10));
  if (!duration) return Fail(duration.error());

  signer::CertificateTemplate tmpl;
  tmpl.subject = *subject;
  tmpl.is_ca = true;
  tmpl.duration = *duration;
  if (auto pl = flags->Get("path-len")) {
    try {
      size_t used = 0;
      int v = std::stoi(*pl, &used);
      if (used != pl->size() || v < 0) throw std::invalid_argument("negative");
      tmpl.max_path_length = v;
    } catch (const std::exception&) {
      return Fail(InvalidArgument("--path-len: must be a whole number >= 0, got \"" + *pl + "\""));
    }
  }
  if (auto check = signer::ValidateTemplate(tmpl); !check.ok()) return Fail(check.error());

  signer::KeyBackendRegistry registry;
  signer::RegisterBuiltinBackends(registry);
  bool created = false;
  auto key = registry.LoadOrCreate(*key_uri, spec, &created);
  if (!key) return Fail(key.error());
  if (!created && flags->Has("key-type") && (*key)->spec() != spec) {
    return Fail(InvalidArgument("the key " + (*key)->uri() + " already exists and is " +
                                signer::KeySpecName((*key)->spec()) + ", not " + signer::KeySpecName(spec) +
                                "; it is never replaced"));
  }
  std::cerr << "certwright: " << (created ? "created " : "using existing ") << signer::KeySpecName((*key)->spec())
            << " key " << (*key)->uri() << "\n";
  ReportCustody(**key);

  signer::IssuanceOptions options;
  options.rsa_pss = flags->Has("rsa-pss");
  if (auto csr_out = flags->Get("csr-out")) {
    auto csr = signer::CreateCsrPem(**key, tmpl, options);
    if (!csr) return Fail(csr.error());
    if (auto w = WriteFileAtomic(*csr_out, *csr); !w.ok()) return Fail(w.error());
    std::cerr << "certwright: wrote a CA certificate request for \"" << subject->ToString() << "\" to " << *csr_out
              << "; have the offline root sign it\n";
    if (!flags->Has("out")) return kExitOk;
  }
  auto cert = signer::SelfSign(**key, tmpl, options);
  if (!cert) return Fail(cert.error());
  std::string out = flags->Get("out").value_or("-");
  if (auto w = WriteFileAtomic(out, cert->pem); !w.ok()) return Fail(w.error());
  std::cerr << "certwright: self-signed CA \"" << subject->ToString() << "\", " << Describe(*cert)
            << (out == "-" ? "" : ", written to " + out) << "\n";
  return kExitOk;
}

int RunSign(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"ca-key", "ca-cert", "csr", "duration", "usage", "out"}, {"rsa-pss", "help"});
  if (!flags) return UsageError(flags.error().message(), kSignUsage);
  if (flags->Has("help")) {
    std::cout << kSignUsage;
    return kExitOk;
  }
  if (!flags->positional().empty()) return UsageError("unexpected argument \"" + flags->positional()[0] + "\"", kSignUsage);
  for (const char* required : {"ca-key", "ca-cert", "csr"}) {
    if (auto r = flags->Require(required); !r) return UsageError(r.error().message(), kSignUsage);
  }
  auto duration = PositiveDuration(flags->Get("duration"), std::chrono::hours(24 * 90));
  if (!duration) return Fail(duration.error());

  auto csr_text = ReadInput(*flags->Get("csr"));
  if (!csr_text) return Fail(csr_text.error().WithContext("--csr"));
  auto csr = signer::CertificateRequest::Parse(*csr_text);
  if (!csr) return Fail(csr.error().WithContext("--csr " + *flags->Get("csr")));

  auto ca_text = signer::ReadFileBounded(*flags->Get("ca-cert"));
  if (!ca_text) return Fail(ca_text.error().WithContext("--ca-cert"));
  auto chain = signer::ParseCertificates(*ca_text);
  if (!chain) return Fail(chain.error().WithContext("--ca-cert " + *flags->Get("ca-cert")));

  signer::KeyBackendRegistry registry;
  signer::RegisterBuiltinBackends(registry);
  auto key = registry.Load(*flags->Get("ca-key"));
  if (!key) return Fail(key.error().WithContext("--ca-key"));

  signer::IssuanceOptions options;
  options.rsa_pss = flags->Has("rsa-pss");
  auto ca = signer::CertificateAuthority::Create(*key, std::move(*chain), options);
  if (!ca) return Fail(ca.error());

  signer::CertificateTemplate tmpl = signer::TemplateFromCsr(*csr);
  tmpl.duration = *duration;
  if (flags->Has("usage")) {
    std::vector<std::string> names;
    for (const auto& u : flags->GetAll("usage")) {
      std::stringstream ss(u);
      std::string item;
      while (std::getline(ss, item, ',')) {
        while (!item.empty() && item.front() == ' ') item.erase(item.begin());
        if (!item.empty()) names.push_back(item);
      }
    }
    auto usages = signer::ParseUsages(names);
    if (!usages) return Fail(usages.error().WithContext("--usage"));
    tmpl.usages = *usages;
  }
  auto issued = ca->Issue(tmpl, csr->subject_key);
  if (!issued) return Fail(issued.error());
  std::string out = flags->Get("out").value_or("-");
  if (auto w = WriteFileAtomic(out, issued->chain_pem); !w.ok()) return Fail(w.error());
  std::string who = csr->subject.empty() ? "(empty subject)" : "\"" + csr->subject.ToString() + "\"";
  std::cerr << "certwright: issued " << who << ", " << Describe(*issued) << (out == "-" ? "" : ", written to " + out)
            << "\n";
  return kExitOk;
}

}  // namespace certwright::cli
