/**
 * The volume-attribute keys the driver reads: the `csi.cert-manager.io/*` attributes
 * users set on an inline CSI volume, and the `csi.storage.k8s.io/*` keys kubelet adds
 * to `volume_context`. One place to spell them, for the parser and every other module.
 */

/** Group of the attributes users set. */
export const CertManagerGroup = "csi.cert-manager.io"
/** Group of the keys kubelet adds; never attributes of the certificate. */
export const KubeletGroup = "csi.storage.k8s.io"

export const IssuerNameKey = "csi.cert-manager.io/issuer-name"
export const IssuerKindKey = "csi.cert-manager.io/issuer-kind"
export const IssuerGroupKey = "csi.cert-manager.io/issuer-group"

export const CommonNameKey = "csi.cert-manager.io/common-name"
export const LiteralSubjectKey = "csi.cert-manager.io/literal-subject"
export const OrganizationsKey = "csi.cert-manager.io/organizations"
export const OrganizationalUnitsKey = "csi.cert-manager.io/organizationalunits"
export const CountriesKey = "csi.cert-manager.io/countries"
export const ProvincesKey = "csi.cert-manager.io/provinces"
export const LocalitiesKey = "csi.cert-manager.io/localities"
export const StreetAddressesKey = "csi.cert-manager.io/streetaddresses"
export const PostalCodesKey = "csi.cert-manager.io/postalcodes"
export const SerialNumberKey = "csi.cert-manager.io/serialnumber"

export const DnsNamesKey = "csi.cert-manager.io/dns-names"
export const IpSansKey = "csi.cert-manager.io/ip-sans"
export const UriSansKey = "csi.cert-manager.io/uri-sans"

export const DurationKey = "csi.cert-manager.io/duration"
export const IsCaKey = "csi.cert-manager.io/is-ca"
export const KeyUsagesKey = "csi.cert-manager.io/key-usages"
export const KeyAlgorithmKey = "csi.cert-manager.io/key-algorithm"
export const KeySizeKey = "csi.cert-manager.io/key-size"
export const KeyEncodingKey = "csi.cert-manager.io/key-encoding"

export const CertificateFileKey = "csi.cert-manager.io/certificate-file"
export const CaFileKey = "csi.cert-manager.io/ca-file"
export const PrivateKeyFileKey = "csi.cert-manager.io/privatekey-file"
export const FsGroupKey = "csi.cert-manager.io/fs-group"

export const RenewBeforeKey = "csi.cert-manager.io/renew-before"
export const ReusePrivateKeyKey = "csi.cert-manager.io/reuse-private-key"

export const Pkcs12EnableKey = "csi.cert-manager.io/pkcs12-enable"
export const Pkcs12FilenameKey = "csi.cert-manager.io/pkcs12-filename"
export const Pkcs12PasswordKey = "csi.cert-manager.io/pkcs12-password"
export const Pkcs12ProfileKey = "csi.cert-manager.io/pkcs12-profile"

/** Every attribute a user may set, in the order problems with them are reported. */
export const AttributeKeys = [
  IssuerNameKey,
  IssuerKindKey,
  IssuerGroupKey,
  CommonNameKey,
  LiteralSubjectKey,
  OrganizationsKey,
  OrganizationalUnitsKey,
  CountriesKey,
  ProvincesKey,
  LocalitiesKey,
  StreetAddressesKey,
  PostalCodesKey,
  SerialNumberKey,
  DnsNamesKey,
  IpSansKey,
  UriSansKey,
  DurationKey,
  RenewBeforeKey,
  IsCaKey,
  KeyUsagesKey,
  KeyAlgorithmKey,
  KeySizeKey,
  KeyEncodingKey,
  ReusePrivateKeyKey,
  CertificateFileKey,
  PrivateKeyFileKey,
  CaFileKey,
  FsGroupKey,
  Pkcs12EnableKey,
  Pkcs12FilenameKey,
  Pkcs12PasswordKey,
  Pkcs12ProfileKey,
] as const
export type AttributeKey = (typeof AttributeKeys)[number]

export const isAttributeKey = (key: string): key is AttributeKey =>
  (AttributeKeys as ReadonlyArray<string>).includes(key)

export const PodNameKey = "csi.storage.k8s.io/pod.name"
export const PodNamespaceKey = "csi.storage.k8s.io/pod.namespace"
export const PodUidKey = "csi.storage.k8s.io/pod.uid"
export const ServiceAccountNameKey = "csi.storage.k8s.io/serviceAccount.name"
export const EphemeralKey = "csi.storage.k8s.io/ephemeral"
export const ServiceAccountTokensKey = "csi.storage.k8s.io/serviceAccount.tokens"

/** Names problems that are not about one attribute key. */
export const VolumeMountGroupField = "volume_mount_group"
export const RequestField = "volumeAttributes"
