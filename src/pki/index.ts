/** The PKI layer's public API: keys, CSRs, issued-certificate checks and PKCS#12 keystores. */
export { checkIssued, type IssuedCertificate, publicKeyMatches } from "./certificate.js"
export { buildCsr } from "./csr.js"
export { CertificateInvalid, CsrError, KeyError, Pkcs12Error } from "./errors.js"
export { KeyGenerator, type PrivateKey } from "./keys.js"
export { encodePkcs12, type Pkcs12Input } from "./pkcs12.js"
export { type KeyUsageBit, KeyUsageBits, requestUsages, type X509Usages, x509UsagesFor } from "./usages.js"
