/* The pods of tests/unit/fixtures/k8s/pods.json that the k8s tests look
 * up: pod uids, container ids, and the label prefix of kubernetes_sd. */
#ifndef BRASA_TESTS_K8S_FIXTURE_H
#define BRASA_TESTS_K8S_FIXTURE_H

#define UID_CHECKOUT "3f1c2a9e-8b7d-4c6e-9a1f-2b3c4d5e6f70"
#define UID_REDIS "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
#define UID_API "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"
#define UID_PENDING "e5f6a7b8-c9d0-4e1f-a2b3-c4d5e6f7a8b9"
#define UID_PROXY "f7a8b9c0-d1e2-4f3a-b4c5-d6e7f8a9b0c1"
#define HASH_PROXY "6b9d2f1e0c8a4b7d9e3f5a1c2b4d6e8f"
#define UID_NODE_B "0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d"
#define UID_UNKNOWN "11111111-2222-4333-8444-555555555555"
#define UID_NEW "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"

#define ID_CHECKOUT "c7761e58969f7edd498186641b2021e8477e1bcd230de4cf3435242da4a40d14"
#define ID_ISTIO_INIT "33fac92ae5802630929873400a96320b39778106269726e193fc7962811c37b0"
#define ID_ISTIO_PROXY "b8e9c2a497daf0198e1b79d0044361efcbeb110b0e12096e96fcf46aadefd73e"
#define ID_REDIS "34fb46c847bb9df96e5205a39d382f648a6e8dce1e014cd85b4ca6a88d88ed03"
#define ID_REDIS_PREV "ab27772388e48636b5865b602af1211beea86202f094fe16dccc31811b7c771c"
#define ID_API "f7894a9e71c94e12fd41907644882fa3a6b06a32896a34d387f7164185ece008"
#define ID_DEBUGGER "4c44d7c28ec0f6ca3e2624c6af1d3be324576d01ef6f6c2dc0af7e61664b8c2c"
#define ID_PROXY "7d7d4eed89b70ea736ca15fa6c6183a27198a1b8cccc12e1944590f415a774e7"
#define ID_CHECKOUT_B "1c15f70ae16fcafd066713c1a9b8dae73aada96cec23322209c5a2a43f4c3080"
#define ID_NEW "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

#define P "__meta_kubernetes_pod_"

#endif
