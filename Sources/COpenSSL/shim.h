#ifndef WARDEN_COPENSSL_SHIM_H
#define WARDEN_COPENSSL_SHIM_H
// OpenSSL's libcrypto, and functions for the few macros Swift cannot import.
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

static inline void copenssl_free(void *p) { OPENSSL_free(p); }

static inline int copenssl_set_rsa_pss(EVP_PKEY_CTX *ctx, int salt_len) {
    if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0) return 0;
    return EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt_len);
}
static inline int copenssl_selection_public_key(void) { return EVP_PKEY_PUBLIC_KEY; }
#endif
