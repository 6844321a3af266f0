"""A test PKI made with the real openssl command line, as the EMQX TLS guide (seed 000) does it:
a root CA, an intermediate CA signed by it, a server certificate and client certificates issued by
the intermediate (one expired, one revoked in the intermediate's CRL), and a second, unrelated CA
with its own client certificate. `openssl ca` keeps the database the CRL is made from."""

import os
import subprocess
import textwrap


def _run(*args, cwd):
    subprocess.run(list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


CA_CONF = textwrap.dedent("""\
    [ ca ]
    default_ca = ica
    [ ica ]
    dir = {dir}
    database = $dir/index.txt
    new_certs_dir = $dir/newcerts
    serial = $dir/serial
    crlnumber = $dir/crlnumber
    certificate = $dir/{name}.crt
    private_key = $dir/{name}.key
    default_md = sha256
    default_days = 365
    default_crl_days = 30
    policy = anything
    unique_subject = no
    copy_extensions = copy
    [ anything ]
    commonName = supplied
    [ server_ext ]
    basicConstraints = critical, CA:FALSE
    keyUsage = critical, digitalSignature
    extendedKeyUsage = serverAuth, clientAuth
    subjectAltName = @server_names
    [ server_names ]
    DNS.1 = localhost
    DNS.2 = example.test
    IP.1 = 127.0.0.1
    IP.2 = ::1
    [ client_ext ]
    basicConstraints = critical, CA:FALSE
    keyUsage = critical, digitalSignature
    extendedKeyUsage = clientAuth
    [ client_uri_ext ]
    basicConstraints = critical, CA:FALSE
    keyUsage = critical, digitalSignature
    extendedKeyUsage = clientAuth
    subjectAltName = URI:sip:bob@example.test, email:bob@example.test
    [ gateway_ext ]
    basicConstraints = critical, CA:FALSE
    keyUsage = critical, digitalSignature
    extendedKeyUsage = serverAuth, clientAuth
    subjectAltName = DNS:gw.example.net
    [ server_only_ext ]
    basicConstraints = critical, CA:FALSE
    keyUsage = critical, digitalSignature
    extendedKeyUsage = serverAuth
    [ v3_intermediate ]
    basicConstraints = critical, CA:TRUE, pathlen:0
    keyUsage = critical, keyCertSign, cRLSign
    subjectKeyIdentifier = hash
    authorityKeyIdentifier = keyid
    """)


class Pki:
    """Files in `directory`: root-ca.crt, intermediate-ca.crt, ca-chain.crt (intermediate + root),
    server.key/server.crt/server-chain.crt, client certificates NAME.key/NAME.crt/NAME-chain.crt
    (alice, expired, revoked, serveronly; bob-uri names sip:bob@example.test in subjectAltName; gateway names DNS:gw.example.net), and stranger: a client certificate from another CA that names gw.example.net too, intermediate.crl, other-ca.crt, stranger.key/.crt."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self._root()
        self._intermediate()
        self.issue("server", "localhost", "server_ext")
        self.issue("alice", "alice", "client_ext")
        self.issue("expired", "expired", "client_ext", start="20200101000000Z", end="20210101000000Z")
        self.issue("revoked", "revoked", "client_ext")
        self.issue("serveronly", "serveronly", "server_only_ext")
        self.issue("bob-uri", "Bob's phone", "client_uri_ext")
        self.issue("gateway", "gw.example.net", "gateway_ext")
        self.revoke("revoked")
        self._other_ca()

    def path(self, name):
        return os.path.join(self.dir, name)

    def _root(self):
        _run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "root-ca.key", cwd=self.dir)
        _run("openssl", "req", "-x509", "-new", "-key", "root-ca.key", "-sha256", "-days", "3650", "-subj",
             "/CN=sipwarden test root CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "root-ca.crt", cwd=self.dir)
        self._ca_dir("root-ca")

    def _ca_dir(self, name):
        d = os.path.join(self.dir, name + ".db")
        os.makedirs(os.path.join(d, "newcerts"), exist_ok=True)
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(d, "crlnumber"), "w") as f:
            f.write("1000\n")
        # The CA's key and certificate are looked up in its database directory.
        for ext in ("crt", "key"):
            src = os.path.join(self.dir, f"{name}.{ext}")
            dst = os.path.join(d, f"{name}.{ext}")
            if not os.path.exists(dst):
                os.symlink(src, dst)
        with open(os.path.join(d, "ca.conf"), "w") as f:
            f.write(CA_CONF.format(dir=d, name=name))
        return d

    def _intermediate(self):
        _run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "intermediate-ca.key",
             cwd=self.dir)
        _run("openssl", "req", "-new", "-key", "intermediate-ca.key", "-subj", "/CN=sipwarden test intermediate CA",
             "-out", "intermediate-ca.csr", cwd=self.dir)
        root_db = os.path.join(self.dir, "root-ca.db")
        _run("openssl", "ca", "-batch", "-config", os.path.join(root_db, "ca.conf"), "-extensions", "v3_intermediate",
             "-days", "1825", "-notext", "-in", "intermediate-ca.csr", "-out", "intermediate-ca.crt", cwd=self.dir)
        self._ca_dir("intermediate-ca")
        with open(self.path("ca-chain.crt"), "w") as out:
            for n in ("intermediate-ca.crt", "root-ca.crt"):
                with open(self.path(n)) as f:
                    out.write(f.read())

    def issue(self, name, cn, ext, start=None, end=None):
        _run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=self.dir)
        os.chmod(self.path(f"{name}.key"), 0o600)
        _run("openssl", "req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out", f"{name}.csr", cwd=self.dir)
        args = ["openssl", "ca", "-batch", "-config", os.path.join(self.dir, "intermediate-ca.db", "ca.conf"),
                "-extensions", ext, "-notext", "-in", f"{name}.csr", "-out", f"{name}.crt"]
        if start:
            args += ["-startdate", start, "-enddate", end]
        _run(*args, cwd=self.dir)
        with open(self.path(f"{name}-chain.crt"), "w") as out:
            for n in (f"{name}.crt", "intermediate-ca.crt"):
                with open(self.path(n)) as f:
                    out.write(f.read())

    def revoke(self, name):
        conf = os.path.join(self.dir, "intermediate-ca.db", "ca.conf")
        _run("openssl", "ca", "-config", conf, "-revoke", f"{name}.crt", cwd=self.dir)
        self.gencrl()

    def gencrl(self):
        conf = os.path.join(self.dir, "intermediate-ca.db", "ca.conf")
        _run("openssl", "ca", "-config", conf, "-gencrl", "-out", "intermediate.crl", cwd=self.dir)

    def _other_ca(self):
        _run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "other-ca.key", cwd=self.dir)
        _run("openssl", "req", "-x509", "-new", "-key", "other-ca.key", "-sha256", "-days", "3650", "-subj",
             "/CN=some other CA", "-addext", "basicConstraints=critical,CA:TRUE", "-out", "other-ca.crt", cwd=self.dir)
        _run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "stranger.key", cwd=self.dir)
        _run("openssl", "req", "-new", "-key", "stranger.key", "-subj", "/CN=alice", "-out", "stranger.csr",
             cwd=self.dir)
        ext = self.path("stranger.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n"
                    "subjectAltName=DNS:gw.example.net\n")
        _run("openssl", "x509", "-req", "-in", "stranger.csr", "-CA", "other-ca.crt", "-CAkey", "other-ca.key",
             "-CAcreateserial", "-days", "365", "-extfile", ext, "-out", "stranger.crt", cwd=self.dir)
