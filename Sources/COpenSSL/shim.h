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
/// Builds a public key from parameters. Done in C because OSSL_PARAM_BLD keeps the
/// parameter-name pointers until OSSL_PARAM_BLD_to_param, and Swift's bridged string
/// constants would not outlive the push calls.
static inline EVP_PKEY *copenssl_public_key_from_params(const char *type, OSSL_PARAM_BLD *bld) {
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params != NULL && ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1) {
        if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static inline EVP_PKEY *copenssl_rsa_public_key(const unsigned char *n, size_t n_len, const unsigned char *e, size_t e_len) {
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bn = BN_bin2bn(n, (int)n_len, NULL), *be = BN_bin2bn(e, (int)e_len, NULL);
    if (bld != NULL && bn != NULL && be != NULL
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1) {
        pkey = copenssl_public_key_from_params("RSA", bld);
    }
    BN_free(bn);
    BN_free(be);
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

/// An EC public key from a group name ("prime256v1", …) and an uncompressed point.
static inline EVP_PKEY *copenssl_ec_public_key(const char *group, const unsigned char *point, size_t point_len) {
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld != NULL
        && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1
        && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, point_len) == 1) {
        pkey = copenssl_public_key_from_params("EC", bld);
    }
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}
#endif
