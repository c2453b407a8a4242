/**
 * `cert-manager-csi-driver/testing`: what our tests, `npm run demo` and users' own test
 * suites build on — an in-process Kubernetes API server with a cert-manager-like CA
 * issuer (the sandbox), and fake layers for the driver's services.
 */
export type { Faults, Stats } from "./api-server/controls.js"
export { ServerControls } from "./api-server/controls.js"
export type { ListenError, TlsMaterial } from "./api-server/http.js"
export type { KubeObject, ObjectMeta, OwnerReference } from "./api-server/objects.js"
export type { ApiServerOptions } from "./api-server/server.js"
export { ApiServer } from "./api-server/server.js"
export type { ApiError, Status } from "./api-server/status.js"
export type { StoreEvent, StoreOptions } from "./api-server/store.js"
export { ObjectStore } from "./api-server/store.js"
export type { NewUser, ServiceAccountTokenOptions, UserInfo } from "./api-server/users.js"
export { serviceAccountUser, Users } from "./api-server/users.js"
export {
  FakeCertificateRequests,
  type FakeCertificateRequestsOptions,
  type FakeRequestState,
  type SubmittedRequest,
} from "./fake-certificate-requests.js"
export { FakeKeyGenerator } from "./fake-keys.js"
export { type FakePodChange, type FakePodInput, FakePods } from "./fake-pods.js"
export { type BadAnswer, badAnswerIssuers, defaultBehaviours, IssuerBehaviour } from "./issuer/behaviour.js"
export type { CaInput, CaSigner, CertificateAuthority, ServingCertificate } from "./issuer/ca.js"
export { CaError, generateCa, issueServingCertificate, loadCa } from "./issuer/ca.js"
export type { IssuerOptions } from "./issuer/controller.js"
export { Issuer } from "./issuer/controller.js"
export type { Issued } from "./issuer/sign.js"
export { SignFailure, signCertificateRequest } from "./issuer/sign.js"
export { type MemoryVolume, MemoryVolumeStore, memoryStoreRoot } from "./memory-store.js"
export { type RecordedEvent, RecordingPodEvents } from "./recording-events.js"
export {
  changingOperations,
  type FakeEntry,
  type FakeMount,
  type MountCall,
  type MountOperation,
  RecordingMounter,
} from "./recording-mounter.js"
export type {
  PodInput,
  PodUpdate,
  RunningSandbox,
  RunSandboxOptions,
  Sandbox,
  SandboxOptions,
  SandboxResource,
} from "./sandbox.js"
export {
  driverServiceAccount,
  makeSandbox,
  renderKubeconfig,
  runSandbox,
  SandboxError,
  startSandbox,
} from "./sandbox.js"
