//! HTTPS: Python 3.14's `HTTPSServer(…, certfile=, keyfile=, password=)` with rustls.
//!
//! [`load_cert_chain`] reads a PEM certificate chain and its private key the way Python's
//! `SSLContext.load_cert_chain` does (the key may sit in the certificate file, and may be
//! encrypted), and gives a [`rustls::ServerConfig`] for [`HttpServer::tls`](super::HttpServer::tls).
//!
//! # Example
//!
//! The defaults, Python's `python -m http.server --tls-cert cert.pem --tls-key key.pem`:
//!
//! ```no_run
//! use basehttp::server::{tls, HttpServer};
//! use basehttp::static_files::StaticFiles;
//!
//! # async fn run() -> std::io::Result<()> {
//! let config = tls::load_cert_chain("cert.pem", Some("key.pem".as_ref()), None)?;
//! let httpd = HttpServer::bind(("0.0.0.0", 8443), StaticFiles::new("."))
//!     .await?
//!     .tls(config);
//! httpd.run().await // Serving HTTPS on 0.0.0.0 port 8443 (https://0.0.0.0:8443/) ...
//! # }
//! ```
//!
//! Customised: an encrypted key, HTTP/2 offered by ALPN, and the configuration adjusted before
//! use (here: TLS 1.3 session tickets off):
//!
//! ```no_run
//! use basehttp::prelude::*;
//! use basehttp::server::{tls, HttpServer};
//!
//! # async fn run() -> std::io::Result<()> {
//! let password = std::fs::read_to_string("password.txt")?;
//! let mut config = tls::load_cert_chain("chain.pem", Some("key.pem".as_ref()), Some(password.trim()))?;
//! config.send_tls13_tickets = 0;
//! let httpd = HttpServer::bind(("0.0.0.0", 8443), DefaultHandler.into_service())
//!     .await?
//!     .http2(true)
//!     .tls(config);
//! httpd.serve_forever().await
//! # }
//! ```

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Python's `SSLContext.load_cert_chain(certfile, keyfile, password)`: a rustls server
/// configuration for the PEM certificate chain in `certfile` (the server's certificate first)
/// and the private key in `keyfile`, or in `certfile` when `keyfile` is `None`.
///
/// The key may be PKCS#8, PKCS#1 (RSA) or SEC1 (EC); an encrypted PKCS#8 key
/// (`-----BEGIN ENCRYPTED PRIVATE KEY-----`, what `openssl pkcs8 -topk8` writes) is decrypted
/// with `password`. The configuration uses rustls' safe defaults (TLS 1.2 and 1.3, the ring
/// provider) and no ALPN protocols; [`HttpServer::tls`](super::HttpServer::tls) fills those in.
///
/// # Errors
///
/// `InvalidData` with a message naming the file when a file holds no certificate or no key,
/// the key is encrypted and no (or a wrong) password was given, or the key does not match the
/// certificate; the I/O error when a file cannot be read.
#[doc(alias = "certfile")]
#[doc(alias = "keyfile")]
#[doc(alias = "password")]
pub fn load_cert_chain(
    certfile: impl AsRef<Path>,
    keyfile: Option<&Path>,
    password: Option<&str>,
) -> io::Result<rustls::ServerConfig> {
    let certfile = certfile.as_ref();
    let cert_pem = read(certfile)?;
    let certs = certificates(&cert_pem).map_err(|msg| invalid(certfile, &msg))?;
    let (key_path, key_pem) = match keyfile {
        Some(path) => (path, read(path)?),
        None => (certfile, cert_pem),
    };
    let key = private_key(&key_pem, password).map_err(|msg| invalid(key_path, &msg))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|err| invalid(key_path, &format!("unusable certificate or key: {err}")))
}

fn read(path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))
}

fn invalid(path: &Path, message: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {message}", path.display()),
    )
}

/// Every `CERTIFICATE` block of a PEM file, in order.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("not a PEM file: {err}"))?;
    if certs.is_empty() {
        return Err("no certificate (-----BEGIN CERTIFICATE-----) found".to_owned());
    }
    Ok(certs)
}

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The first private key of a PEM file, decrypted with `password` when it is encrypted.
fn private_key(pem: &[u8], password: Option<&str>) -> Result<PrivateKeyDer<'static>, String> {
    let text = String::from_utf8_lossy(pem);
    // OpenSSL's legacy encrypted PEM has headers inside its block, which the PEM parser below
    // rejects: say what it is first.
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(
            "the private key uses OpenSSL's legacy encryption, which is not supported: \
                    convert it with `openssl pkcs8 -topk8 -in key.pem -out key-pkcs8.pem`"
                .to_owned(),
        );
    }
    let sections = <(SectionKind, Vec<u8>)>::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("not a PEM file: {err}"))?;
    if let Some(key) = sections
        .into_iter()
        .find_map(|(kind, der)| PrivateKeyDer::from_pem(kind, der))
    {
        return Ok(key);
    }
    if let Some(block) = pem_block(&text, ENCRYPTED_BEGIN, ENCRYPTED_END) {
        let Some(password) = password else {
            return Err("the private key is encrypted: give its password".to_owned());
        };
        return decrypt(block, password);
    }
    Err("no private key (-----BEGIN PRIVATE KEY-----) found".to_owned())
}

/// The text from `begin` to the end of `end`, if both are there in that order.
fn pem_block<'a>(text: &'a str, begin: &str, end: &str) -> Option<&'a str> {
    let start = text.find(begin)?;
    let stop = text[start..].find(end)? + start + end.len();
    Some(&text[start..stop])
}

fn decrypt(block: &str, password: &str) -> Result<PrivateKeyDer<'static>, String> {
    let unreadable =
        |err: &dyn std::fmt::Display| format!("unreadable encrypted private key: {err}");
    let (_label, der) = pkcs8::der::Document::from_pem(block).map_err(|e| unreadable(&e))?;
    let info =
        pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_bytes()).map_err(|e| unreadable(&e))?;
    let document = info
        .decrypt(password)
        .map_err(|_| "cannot decrypt the private key: wrong password?".to_owned())?;
    Ok(PrivatePkcs8KeyDer::from(document.as_bytes().to_vec()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_certificate_is_a_clear_error() {
        assert_eq!(
            certificates(b"hello").err().as_deref(),
            Some("no certificate (-----BEGIN CERTIFICATE-----) found")
        );
    }

    #[test]
    fn no_key_is_a_clear_error() {
        assert_eq!(
            private_key(b"", None).err().as_deref(),
            Some("no private key (-----BEGIN PRIVATE KEY-----) found")
        );
        let legacy = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                       DEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let err = private_key(legacy, Some("pw")).err().unwrap_or_default();
        assert!(err.contains("legacy encryption"), "{err}");
    }

    #[test]
    fn pem_block_needs_both_markers_in_order() {
        let text = format!("junk\n{ENCRYPTED_BEGIN}\nQUJD\n{ENCRYPTED_END}\ntrailer");
        assert_eq!(
            pem_block(&text, ENCRYPTED_BEGIN, ENCRYPTED_END),
            Some(&text[5..text.len() - 8])
        );
        assert_eq!(
            pem_block(ENCRYPTED_END, ENCRYPTED_BEGIN, ENCRYPTED_END),
            None
        );
    }
}
