"""labca.py - the integration lab's certificate authority.

Issues the certificates the lab's SMTP receivers present: a trusted lab
root CA (its certificate is the bundle sealpost gets as tls_ca_file), an
optional intermediate, and leaf certificates with chosen SAN lists,
wildcards, expired / not-yet-valid dates, wrong names, or signed by a
second "rogue" CA that nothing trusts.  TLSA record data for any
certificate is computed here too, so DNS zones can publish DANE records
that match (or deliberately do not match) the lab's keys.

Everything is EC P-256 so a whole lab's PKI is generated in well under a
second.  Files written into the PKI directory:

    <ca>.pem / <ca>.key           a CA certificate and key
    ca-bundle.pem                 the trusted lab root(s): tls_ca_file
    <leaf>.pem                    leaf certificate alone
    <leaf>.chain.pem              leaf followed by its issuing chain
    <leaf>.key                    leaf private key (PKCS#8 PEM, no password)

Usable as a module (CA.create / CA.issue / tlsa_rdata) or from the shell:

    labca.py init DIR
    labca.py issue DIR NAME [--san DNSNAME]... [--expired] [--ca CANAME]
    labca.py tlsa CERT.pem USAGE SELECTOR MTYPE
"""

import argparse
import datetime
import hashlib
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ONE_DAY = datetime.timedelta(days=1)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _write(path, data, mode=0o644):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def _validity(expired, not_yet_valid, days):
    now = _now()
    if expired:
        return now - 30 * ONE_DAY, now - ONE_DAY
    if not_yet_valid:
        return now + 10 * ONE_DAY, now + 40 * ONE_DAY
    return now - ONE_DAY, now + days * ONE_DAY


class CA:
    """A CA whose certificate and key live in directory d as <name>.pem/.key."""

    def __init__(self, d, name, cert, key, parent=None):
        self.dir = d
        self.name = name
        self.cert = cert
        self.key = key
        self.parent = parent

    @property
    def cert_path(self):
        return os.path.join(self.dir, self.name + ".pem")

    @property
    def key_path(self):
        return os.path.join(self.dir, self.name + ".key")

    def chain(self):
        """Certificates from this CA up to (excluding) the self-signed root."""
        out, ca = [], self
        while ca is not None and ca.parent is not None:
            out.append(ca.cert)
            ca = ca.parent
        return out

    @classmethod
    def create(cls, d, name="labca", cn="Sealpost Lab Root CA",
               expired=False, days=3650):
        """A new self-signed root CA written to d/<name>.pem and .key."""
        os.makedirs(d, exist_ok=True)
        key = new_key()
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sealpost lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        nb, na = _validity(expired, False, days)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (x509.CertificateBuilder()
                .subject_name(subject).issuer_name(subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(nb).not_valid_after(na)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                               critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, content_commitment=False,
                    key_encipherment=False, data_encipherment=False,
                    key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False), critical=True)
                .add_extension(ski, critical=False)
                .sign(key, hashes.SHA256()))
        ca = cls(d, name, cert, key)
        _write(ca.cert_path, cert_pem(cert))
        _write(ca.key_path, key_pem(key), 0o600)
        return ca

    @classmethod
    def load(cls, d, name="labca"):
        return cls(d, name, load_cert(os.path.join(d, name + ".pem")),
                   load_key(os.path.join(d, name + ".key")))

    def intermediate(self, name, cn=None, days=1825):
        """A CA signed by this one (for DANE-TA / chain tests)."""
        key = new_key()
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sealpost lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn or ("Lab CA " + name))])
        nb, na = _validity(False, False, days)
        cert = (x509.CertificateBuilder()
                .subject_name(subject).issuer_name(self.cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(nb).not_valid_after(na)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                               critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, content_commitment=False,
                    key_encipherment=False, data_encipherment=False,
                    key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                    key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()), critical=False)
                .sign(self.key, hashes.SHA256()))
        ca = CA(self.dir, name, cert, key, parent=self)
        _write(ca.cert_path, cert_pem(cert))
        _write(ca.key_path, key_pem(key), 0o600)
        return ca

    def root(self):
        """The self-signed root at the top of this CA's chain."""
        ca = self
        while ca.parent is not None:
            ca = ca.parent
        return ca

    def issue(self, basename, names, expired=False, not_yet_valid=False,
              days=90, key=None, cn=None, chain_root=False):
        """Issue a server certificate for DNS names (wildcards allowed).

        Writes <basename>.pem, .chain.pem and .key into the CA directory and
        returns (chain_path, key_path).  key: reuse an existing private key
        (same SPKI in several certificates, for DANE 3 1 x tests).
        chain_root: the chain file ends with the root certificate too (a
        server presenting its trust anchor, as DANE-TA(2) digests of a root
        need, RFC 7671 section 5.2.2).
        """
        key = key or new_key()
        names = list(names)
        subject = x509.Name([x509.NameAttribute(
            NameOID.COMMON_NAME, cn or (names[0] if names else basename))])
        nb, na = _validity(expired, not_yet_valid, days)
        b = (x509.CertificateBuilder()
             .subject_name(subject).issuer_name(self.cert.subject)
             .public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(nb).not_valid_after(na)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                            critical=True)
             .add_extension(x509.KeyUsage(
                 digital_signature=True, content_commitment=False,
                 key_encipherment=False, data_encipherment=False,
                 key_agreement=True, key_cert_sign=False, crl_sign=False,
                 encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.ExtendedKeyUsage(
                 [ExtendedKeyUsageOID.SERVER_AUTH,
                  ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 self.key.public_key()), critical=False))
        if names:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in names]), critical=False)
        cert = b.sign(self.key, hashes.SHA256())
        base = os.path.join(self.dir, basename)
        _write(base + ".pem", cert_pem(cert))
        chain = self.chain() + ([self.root().cert] if chain_root else [])
        _write(base + ".chain.pem",
               cert_pem(cert) + b"".join(cert_pem(c) for c in chain))
        _write(base + ".key", key_pem(key), 0o600)
        return base + ".chain.pem", base + ".key"


def write_bundle(path, cas):
    """The trust bundle (tls_ca_file): the given root CAs' certificates."""
    _write(path, b"".join(cert_pem(ca.cert) for ca in cas))


def tlsa_rdata(cert_or_path, usage, selector, mtype):
    """RDATA text "U S M HEX" for a certificate (x509 object or PEM path).

    selector 0 = full certificate, 1 = SubjectPublicKeyInfo; mtype 0 = raw,
    1 = SHA-256, 2 = SHA-512 (RFC 6698 section 2.1).
    """
    cert = cert_or_path
    if isinstance(cert_or_path, str):
        cert = load_cert(cert_or_path)
    if selector == 0:
        blob = cert.public_bytes(serialization.Encoding.DER)
    elif selector == 1:
        blob = cert.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
    else:
        raise ValueError("selector must be 0 or 1")
    if mtype == 0:
        digest = blob.hex()
    elif mtype == 1:
        digest = hashlib.sha256(blob).hexdigest()
    elif mtype == 2:
        digest = hashlib.sha512(blob).hexdigest()
    else:
        raise ValueError("matching type must be 0, 1 or 2")
    return "%d %d %d %s" % (usage, selector, mtype, digest)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("init", help="create the lab root CA and bundle")
    p.add_argument("dir")
    p = sub.add_parser("issue", help="issue a server certificate")
    p.add_argument("dir")
    p.add_argument("name")
    p.add_argument("--san", action="append", default=[])
    p.add_argument("--ca", default="labca")
    p.add_argument("--expired", action="store_true")
    p.add_argument("--not-yet-valid", action="store_true")
    p = sub.add_parser("tlsa", help="print TLSA rdata for a certificate")
    p.add_argument("cert")
    p.add_argument("usage", type=int)
    p.add_argument("selector", type=int)
    p.add_argument("mtype", type=int)
    a = ap.parse_args(argv)
    if a.cmd == "init":
        ca = CA.create(a.dir)
        write_bundle(os.path.join(a.dir, "ca-bundle.pem"), [ca])
        print(ca.cert_path)
    elif a.cmd == "issue":
        ca = CA.load(a.dir, a.ca)
        chain, key = ca.issue(a.name, a.san or [a.name], expired=a.expired,
                              not_yet_valid=a.not_yet_valid)
        print(chain, key)
    else:
        print(tlsa_rdata(a.cert, a.usage, a.selector, a.mtype))
    return 0


if __name__ == "__main__":
    sys.exit(main())
