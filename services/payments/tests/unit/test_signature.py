import hashlib
import hmac

from rentflow_payments.domain import signature


def test_sign_is_hex_hmac_sha256_of_the_raw_body():
    body = b'{"provider_ref": "r1"}'
    expected = hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert signature.sign("k3y", body) == "sha256=" + expected
    assert signature.verify("k3y", body, "sha256=" + expected)
    assert signature.verify("k3y", body, "SHA256=" + expected.upper())


def test_wrong_key_body_or_form_is_refused():
    body = b"[]"
    good = signature.sign("k", body)
    assert not signature.verify("other", body, good)
    assert not signature.verify("k", body + b" ", good)  # re-serialised bodies do not verify
    assert not signature.verify("k", body, good.removeprefix("sha256="))
    assert not signature.verify("k", body, "sha1=" + good.removeprefix("sha256="))
    assert not signature.verify("k", body, "sha256=zz\u00e9")
    assert not signature.verify("k", body, "")


def test_incremental_signer_matches_one_shot():
    mac = signature.signer("k")
    for chunk in (b"ab", b"", b"cd"):
        mac.update(chunk)
    assert signature.matches(mac, signature.sign("k", b"abcd"))
