"""The KMS-compatible test server certwright's tests and benchmarks run against.

It is moto's server (PyPI `moto[server]`, pinned in hack/kms-server) with four small changes,
each to make it behave as the AWS KMS API reference says, so that our backend is tested against
real KMS behaviour rather than against moto's gaps:

1. `Sign` honours `MessageType: DIGEST` (moto 5.2.5 ignores it and hashes the digest again);
   the digest length must match the algorithm, as in AWS.
2. RSASSA-PSS signatures use a salt as long as the digest, as AWS KMS does (moto uses the
   maximum salt length).
3. `Sign` and `GetPublicKey` on a disabled key fail with `DisabledException`, and on a key
   pending deletion with `KMSInvalidStateException` (moto signs with them).
4. A seed file (KMS_SEED_PATH, JSON) creates keys with given ids, aliases and PKCS#8 private
   keys at start-up, like local-kms's seed file, so a test can restart the server and find the
   same key again.

Everything else (request routing, SigV4 credential checks when enabled, CreateKey, CreateAlias,
GetPublicKey, error shapes, STS AssumeRoleWithWebIdentity) is moto's own.

Environment: PORT (required), KMS_REGION (default eu-west-1), KMS_SEED_PATH (optional).
"""
import contextvars
import json
import os
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from moto.core.exceptions import JsonRESTError
from moto.kms import models, responses, utils
from moto.kms.exceptions import ValidationException

_digest_mode = contextvars.ContextVar("certwright_digest_mode", default=False)


def _check_digest(message, hash_algorithm):
    if len(message) != hash_algorithm.digest_size:
        raise ValidationException(
            f"Digest is invalid length for algorithm {hash_algorithm.name}: "
            f"{len(message)} bytes, want {hash_algorithm.digest_size}")


_rsa_sign = utils.RSAPrivateKey.sign
_ecdsa_sign = utils.ECDSAPrivateKey.sign


def rsa_sign(self, message, signing_algorithm):
    utils.validate_signing_algorithm(signing_algorithm, utils.SigningAlgorithm.rsa_signing_algorithms())
    pad, hash_algorithm = self._RSAPrivateKey__padding_and_hash_algorithm(signing_algorithm)
    if isinstance(pad, padding.PSS):
        pad = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)
    if not _digest_mode.get():
        return self.private_key.sign(message, pad, hash_algorithm)
    _check_digest(message, hash_algorithm)
    return self.private_key.sign(message, pad, asym_utils.Prehashed(hash_algorithm))


def ecdsa_sign(self, message, signing_algorithm):
    if not _digest_mode.get():
        return _ecdsa_sign(self, message, signing_algorithm)
    utils.validate_signing_algorithm(signing_algorithm, self.valid_signing_algorithms)
    hash_algorithm = self._ECDSAPrivateKey__hash_algorithm(signing_algorithm)
    _check_digest(message, hash_algorithm)
    return self.private_key.sign(message, ec.ECDSA(asym_utils.Prehashed(hash_algorithm)))


utils.RSAPrivateKey.sign = rsa_sign
utils.ECDSAPrivateKey.sign = ecdsa_sign


def _require_enabled(backend, key_id):
    key = backend.describe_key(key_id)
    if key.key_state == "Disabled":
        raise JsonRESTError("DisabledException", f"{key.arn} is disabled.")
    if key.key_state != "Enabled":
        raise JsonRESTError("KMSInvalidStateException", f"{key.arn} is pending deletion.")


_backend_sign = models.KmsBackend.sign
_backend_get_public_key = models.KmsBackend.get_public_key


def backend_sign(self, key_id, message, signing_algorithm):
    _require_enabled(self, key_id)
    return _backend_sign(self, key_id, message, signing_algorithm)


def backend_get_public_key(self, key_id):
    _require_enabled(self, key_id)
    return _backend_get_public_key(self, key_id)


models.KmsBackend.sign = backend_sign
models.KmsBackend.get_public_key = backend_get_public_key

_response_sign = responses.KmsResponse.sign


def response_sign(self):
    message_type = self._get_param("MessageType") or "RAW"
    if message_type not in ("RAW", "DIGEST"):
        raise ValidationException(
            f"1 validation error detected: Value '{message_type}' at 'MessageType' failed to satisfy "
            "constraint: Member must satisfy enum value set: [RAW, DIGEST]")
    token = _digest_mode.set(message_type == "DIGEST")
    try:
        return _response_sign(self)
    finally:
        _digest_mode.reset(token)


responses.KmsResponse.sign = response_sign


def seed(path, region):
    from moto.core import DEFAULT_ACCOUNT_ID
    backend = models.kms_backends[DEFAULT_ACCOUNT_ID][region]
    with open(path) as f:
        entries = json.load(f)
    for entry in entries:
        key = backend.create_key(None, "SIGN_VERIFY", entry["KeySpec"], "seeded by the test", None)
        del backend.keys[key.id]
        key.id = entry["KeyId"]
        key.arn = f"arn:aws:kms:{region}:{DEFAULT_ACCOUNT_ID}:key/{key.id}"
        key.private_key.private_key = serialization.load_pem_private_key(
            entry["PrivateKeyPem"].encode(), password=None)
        backend.keys[key.id] = key
        for alias in entry.get("Aliases", []):
            backend.create_alias(key.id, alias)


def main():
    port = os.environ["PORT"]
    region = os.environ.get("KMS_REGION", "eu-west-1")
    if os.environ.get("KMS_SEED_PATH"):
        seed(os.environ["KMS_SEED_PATH"], region)
    from moto.server import main as moto_main
    moto_main(["-H", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    sys.exit(main())
