/* Times GOST R 34.10-2012 signing and verification in OpenSSL's gost
 * engine: thread CPU nanoseconds per operation, over n operations on one
 * key, for BenchmarkGostVsOpenSSL.
 *
 *   opensslbench gost2012_256|gost2012_512 PARAMSET N
 *   prints: <sign ns/op> <verify ns/op>
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/engine.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int fail(const char *what) {
	fprintf(stderr, "opensslbench: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	return 1;
}

int main(int argc, char **argv) {
	if (argc != 4)
		return fail("usage");
	int n = atoi(argv[3]);
	ENGINE *e = ENGINE_by_id("gost");
	if (!e || !ENGINE_init(e) || !ENGINE_set_default(e, ENGINE_METHOD_ALL))
		return fail("loading the gost engine");
	int nid = OBJ_sn2nid(argv[1]);
	EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(nid, e);
	EVP_PKEY *key = NULL;
	if (!kctx || EVP_PKEY_keygen_init(kctx) <= 0 || EVP_PKEY_CTX_ctrl_str(kctx, "paramset", argv[2]) <= 0 ||
	    EVP_PKEY_keygen(kctx, &key) <= 0)
		return fail("key generation");
	size_t dlen = nid == OBJ_sn2nid("gost2012_512") ? 64 : 32;
	unsigned char dgst[64], sig[128];
	size_t siglen = sizeof sig;
	RAND_bytes(dgst, sizeof dgst);
	EVP_PKEY_CTX *sctx = EVP_PKEY_CTX_new(key, e);
	if (!sctx || EVP_PKEY_sign_init(sctx) <= 0)
		return fail("sign init");
	double t0 = cpu_ns();
	for (int i = 0; i < n; i++) {
		siglen = sizeof sig;
		if (EVP_PKEY_sign(sctx, sig, &siglen, dgst, dlen) <= 0)
			return fail("sign");
	}
	double t1 = cpu_ns();
	EVP_PKEY_CTX *vctx = EVP_PKEY_CTX_new(key, e);
	if (!vctx || EVP_PKEY_verify_init(vctx) <= 0)
		return fail("verify init");
	double t2 = cpu_ns();
	for (int i = 0; i < n; i++)
		if (EVP_PKEY_verify(vctx, sig, siglen, dgst, dlen) != 1)
			return fail("verify");
	double t3 = cpu_ns();
	printf("%.0f %.0f\n", (t1 - t0) / n, (t3 - t2) / n);
	return 0;
}
