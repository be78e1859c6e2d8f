// The registry of key backends (signer/src/key_backend.cc): choosing by scheme, optional
// abilities, and the stubs registered for backends compiled out.
#include "certwright/signer/key_backend.h"

#include <gtest/gtest.h>

namespace certwright::signer {
namespace {

TEST(KeyBackendRegistry, ABackendCompiledOutFailsEveryUseWithAClearMessage) {
  KeyBackendRegistry registry;
  registry.RegisterUnavailable("pkcs11", "certwright was built with CERTWRIGHT_WITH_PKCS11=OFF");
  const std::string uri = "pkcs11:token=ca;object=issuing?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1";
  const std::string message =
      "pkcs11: key backend is not available in this build: certwright was built with CERTWRIGHT_WITH_PKCS11=OFF";
  auto load = registry.Load(uri);
  auto create = registry.Create(uri, KeySpec::EcdsaP256());
  auto load_or_create = registry.LoadOrCreate(uri, KeySpec::EcdsaP256());
  auto identity = registry.TokenIdentity(uri);
  for (const Error* e : {&load.error(), &create.error(), &load_or_create.error(), &identity.error()}) {
    EXPECT_EQ(e->kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(e->message(), message);
  }
}

TEST(KeyBackendRegistry, EveryBackendThisBuildLeavesOutHasAStub) {
  KeyBackendRegistry registry;
  RegisterBuiltinBackends(registry);
  auto pkcs11 = registry.Load("pkcs11:token=ca;object=k?module-path=/nonexistent/module.so&pin-value=1");
  ASSERT_FALSE(pkcs11.ok());
#ifdef CERTWRIGHT_WITH_PKCS11
  EXPECT_EQ(pkcs11.error().message(), "PKCS#11 module /nonexistent/module.so does not exist");
#else
  EXPECT_EQ(pkcs11.error().message(),
            "pkcs11: key backend is not available in this build: certwright was built with CERTWRIGHT_WITH_PKCS11=OFF");
#endif
#ifndef CERTWRIGHT_WITH_AWSKMS
  auto awskms = registry.Load("awskms:key-id=alias/ca;region=eu-west-1");
  ASSERT_FALSE(awskms.ok());
  EXPECT_EQ(awskms.error().message(),
            "awskms: key backend is not available in this build: certwright was built with CERTWRIGHT_WITH_AWSKMS=OFF");
#endif
}

TEST(KeyBackendRegistry, OnlyBackendsWithTokensNameATokenIdentity) {
  KeyBackendRegistry registry;
  RegisterBuiltinBackends(registry);
  auto file = registry.TokenIdentity("file:/etc/certwright/ca.key");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(file.error().message(), "the file: key backend keeps no keys on tokens, so a file: URI names no token");
  auto unknown = registry.TokenIdentity("vault:key=ca");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message().rfind("key URI scheme \"vault:\" is not supported; use one of ", 0), 0u)
      << unknown.error().message();
}

}  // namespace
}  // namespace certwright::signer
