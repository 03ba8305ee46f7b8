/*
 * Owns two computations of monero's scan math, for many inputs at once:
 * the key derivation 8 * (a * R) for many tx public keys R and many view
 * scalars a, as canonical Edwards encodings, with monero's rules for
 * decoding R (ge_frombytes_vartime); and, for outputs without view tags,
 * derive_subaddress_public_key P - Hs(D || i) G (Keccak-256, sc_reduce32
 * and a comb of G, all here).
 * Must not know about transactions, view tags or accounts; the Python side
 * (ownership.py) gives it meaning.
 *
 * Why it is fast: a derivation is a scalar multiplication of the point
 * Q = 8R.  When several accounts share one R (the scanner's usual case), Q
 * gets a comb table of 256 precomputed multiples (j * 256^i * Q), after
 * which each account costs 64 additions and 4 doublings instead of ~255
 * ladder steps.  With one or two accounts, Q goes to Curve25519 and through
 * a Montgomery ladder whose v coordinate is recovered at the end (so the
 * sign of the result is known, unlike X25519's).  Where the CPU has AVX-512
 * IFMA, ladders run 8 at a time (one per 64-bit lane, 52-bit multiply-adds)
 * and beat the comb at any number of accounts, and so do the comb
 * multiplications of G.  Field elements are five 51-bit limbs with 128-bit
 * products; inversions are batched over blocks of results (Montgomery's
 * trick).  Table lookups, ladder swaps and the sign of each digit are
 * constant-time in the scalar (the view keys are secrets, and Hs(D || i)
 * links outputs to an address); the decoding of R and P, which are
 * public, is not.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef uint64_t u64;
typedef unsigned __int128 u128;

typedef struct { u64 v[5]; } fe;
/* Extended coordinates: x = X/Z, y = Y/Z, xy = T/Z. */
typedef struct { fe X, Y, Z, T; } ge_p3;
/* Projective (no T). */
typedef struct { fe X, Y, Z; } ge_p2;
/* Completed: x = X/Z, y = Y/T. */
typedef struct { fe X, Y, Z, T; } ge_p1p1;
/* Ready to add: Y+X, Y-X, Z, 2dT. */
typedef struct { fe YplusX, YminusX, Z, T2d; } ge_cached;

#define MASK51 ((((u64)1) << 51) - 1)

/* Limb bounds: fe_mul and fe_sq accept limbs below 2^55 and return limbs
 * below 2^52; fe_add of two such results stays below 2^53; fe_sub carries. */

static const fe FE_D2 = {{0x69b9426b2f159ULL, 0x35050762add7aULL, 0x3cf44c0038052ULL,
                          0x6738cc7407977ULL, 0x2406d9dc56dffULL}};
static const fe FE_D = {{0x34dca135978a3ULL, 0x1a8283b156ebdULL, 0x5e7a26001c029ULL,
                         0x739c663a03cbbULL, 0x52036cee2b6ffULL}};
static const fe FE_SQRTM1 = {{0x61b274a0ea0b0ULL, 0x0d5a5fc8f189dULL, 0x7ef5e9cbd0c60ULL,
                              0x78595a6804c9eULL, 0x2b8324804fc1dULL}};

/* sqrt(-486664): the factor between Montgomery (u, v) and Edwards x. */
static const fe FE_SQRT_M486664 = {{0x604aaff457e06ULL, 0x2296fa350598dULL, 0x7f13dfb16874fULL,
                                    0x35de93d846e01ULL, 0x0f26edf460a00ULL}};
/* 2A for Curve25519's A = 486662. */
#define MONTGOMERY_2A 973324
/* (A - 2) / 4 */
#define MONTGOMERY_A24 121665

static inline void fe_0(fe *h) { memset(h, 0, sizeof *h); }
static inline void fe_1(fe *h) { fe_0(h); h->v[0] = 1; }

static inline void fe_add(fe *h, const fe *f, const fe *g)
{
    for (int i = 0; i < 5; i++) h->v[i] = f->v[i] + g->v[i];
}

static inline void fe_carry(fe *h)
{
    u64 c;
    c = h->v[0] >> 51; h->v[0] &= MASK51; h->v[1] += c;
    c = h->v[1] >> 51; h->v[1] &= MASK51; h->v[2] += c;
    c = h->v[2] >> 51; h->v[2] &= MASK51; h->v[3] += c;
    c = h->v[3] >> 51; h->v[3] &= MASK51; h->v[4] += c;
    c = h->v[4] >> 51; h->v[4] &= MASK51; h->v[0] += 19 * c;
}

/* h = f - g + 8p without the carry, for a result that only feeds fe_mul,
 * fe_sq or fe_mul_small.  Limbs of g must stay below 2^53 (8p's are just
 * under 2^54); with f's below 2^54, h's stay below 2^55. */
static inline void fe_sub_nc(fe *h, const fe *f, const fe *g)
{
    h->v[0] = f->v[0] + 0x3fffffffffff68ULL - g->v[0];
    h->v[1] = f->v[1] + 0x3ffffffffffff8ULL - g->v[1];
    h->v[2] = f->v[2] + 0x3ffffffffffff8ULL - g->v[2];
    h->v[3] = f->v[3] + 0x3ffffffffffff8ULL - g->v[3];
    h->v[4] = f->v[4] + 0x3ffffffffffff8ULL - g->v[4];
}

/* h = f - g, carried (limbs of g below 2^53, as for fe_sub_nc). */
static inline void fe_sub(fe *h, const fe *f, const fe *g)
{
    fe_sub_nc(h, f, g);
    fe_carry(h);
}

static inline void fe_neg(fe *h, const fe *f)
{
    fe zero;
    fe_0(&zero);
    fe_sub(h, &zero, f);
}

static inline void fe_reduce_product(fe *h, u128 t0, u128 t1, u128 t2, u128 t3, u128 t4)
{
    u64 r0, r1, r2, r3, r4;
    t1 += t0 >> 51; r0 = (u64)t0 & MASK51;
    t2 += t1 >> 51; r1 = (u64)t1 & MASK51;
    t3 += t2 >> 51; r2 = (u64)t2 & MASK51;
    t4 += t3 >> 51; r3 = (u64)t3 & MASK51;
    r4 = (u64)t4 & MASK51;
    u128 c = (t4 >> 51) * 19 + r0;
    r0 = (u64)c & MASK51;
    r1 += (u64)(c >> 51);
    h->v[0] = r0; h->v[1] = r1; h->v[2] = r2; h->v[3] = r3; h->v[4] = r4;
}

/* A 64 x 64 -> 128-bit product. */
#define M(a, b) ((u128)(a) * (b))

static inline void fe_mul(fe *h, const fe *f, const fe *g)
{
    const u64 f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3], f4 = f->v[4];
    const u64 g0 = g->v[0], g1 = g->v[1], g2 = g->v[2], g3 = g->v[3], g4 = g->v[4];
    const u64 g1_19 = 19 * g1, g2_19 = 19 * g2, g3_19 = 19 * g3, g4_19 = 19 * g4;
    u128 t0 = M(f0, g0) + M(f1, g4_19) + M(f2, g3_19) + M(f3, g2_19) + M(f4, g1_19);
    u128 t1 = M(f0, g1) + M(f1, g0) + M(f2, g4_19) + M(f3, g3_19) + M(f4, g2_19);
    u128 t2 = M(f0, g2) + M(f1, g1) + M(f2, g0) + M(f3, g4_19) + M(f4, g3_19);
    u128 t3 = M(f0, g3) + M(f1, g2) + M(f2, g1) + M(f3, g0) + M(f4, g4_19);
    u128 t4 = M(f0, g4) + M(f1, g3) + M(f2, g2) + M(f3, g1) + M(f4, g0);
    fe_reduce_product(h, t0, t1, t2, t3, t4);
}

static inline void fe_sq(fe *h, const fe *f)
{
    const u64 f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3], f4 = f->v[4];
    const u64 f0_2 = 2 * f0, f1_2 = 2 * f1;
    const u64 f1_38 = 38 * f1, f2_38 = 38 * f2, f3_38 = 38 * f3, f3_19 = 19 * f3, f4_19 = 19 * f4;
    u128 t0 = M(f0, f0) + M(f1_38, f4) + M(f2_38, f3);
    u128 t1 = M(f0_2, f1) + M(f2_38, f4) + M(f3_19, f3);
    u128 t2 = M(f0_2, f2) + M(f1, f1) + M(f3_38, f4);
    u128 t3 = M(f0_2, f3) + M(f1_2, f2) + M(f4_19, f4);
    u128 t4 = M(f0_2, f4) + M(f1_2, f3) + M(f2, f2);
    fe_reduce_product(h, t0, t1, t2, t3, t4);
}

/* h = f * n for a small constant n (below 2^20). */
static inline void fe_mul_small(fe *h, const fe *f, u64 n)
{
    u128 t0 = (u128)f->v[0] * n, t1 = (u128)f->v[1] * n, t2 = (u128)f->v[2] * n;
    u128 t3 = (u128)f->v[3] * n, t4 = (u128)f->v[4] * n;
    fe_reduce_product(h, t0, t1, t2, t3, t4);
}

static inline void fe_sqn(fe *h, const fe *f, int n)
{
    fe_sq(h, f);
    for (int i = 1; i < n; i++) fe_sq(h, h);
}

/* f^(2^250 - 1) into z250, and f^11 into z11 (shared by invert and pow22523). */
static void fe_pow_2_250_1(fe *z250, fe *z11, const fe *f)
{
    fe z2, z9, t, z5, z10, z20, z50, z100;
    fe_sq(&z2, f);                 /* 2 */
    fe_sqn(&t, &z2, 2);            /* 8 */
    fe_mul(&z9, &t, f);            /* 9 */
    fe_mul(z11, &z9, &z2);         /* 11 */
    fe_sq(&t, z11);                /* 22 */
    fe_mul(&z5, &t, &z9);          /* 2^5 - 1 */
    fe_sqn(&t, &z5, 5);
    fe_mul(&z10, &t, &z5);         /* 2^10 - 1 */
    fe_sqn(&t, &z10, 10);
    fe_mul(&z20, &t, &z10);        /* 2^20 - 1 */
    fe_sqn(&t, &z20, 20);
    fe_mul(&t, &t, &z20);          /* 2^40 - 1 */
    fe_sqn(&t, &t, 10);
    fe_mul(&z50, &t, &z10);        /* 2^50 - 1 */
    fe_sqn(&t, &z50, 50);
    fe_mul(&z100, &t, &z50);       /* 2^100 - 1 */
    fe_sqn(&t, &z100, 100);
    fe_mul(&t, &t, &z100);         /* 2^200 - 1 */
    fe_sqn(&t, &t, 50);
    fe_mul(z250, &t, &z50);        /* 2^250 - 1 */
}

/* f^(p - 2) = f^(2^255 - 21). */
static void fe_invert(fe *h, const fe *f)
{
    fe z250, z11;
    fe_pow_2_250_1(&z250, &z11, f);
    fe_sqn(&z250, &z250, 5);       /* 2^255 - 32 */
    fe_mul(h, &z250, &z11);        /* 2^255 - 21 */
}

/* f^((p - 5) / 8) = f^(2^252 - 3). */
static void fe_pow22523(fe *h, const fe *f)
{
    fe z250, z11;
    fe_pow_2_250_1(&z250, &z11, f);
    fe_sqn(&z250, &z250, 2);       /* 2^252 - 4 */
    fe_mul(h, &z250, f);           /* 2^252 - 3 */
}

/* The low 255 bits of s, unreduced (limbs below 2^51). */
static void fe_frombytes(fe *h, const unsigned char *s)
{
    u64 w[4];
    for (int i = 0; i < 4; i++) {
        u64 x = 0;
        for (int j = 7; j >= 0; j--) x = (x << 8) | s[8 * i + j];
        w[i] = x;
    }
    h->v[0] = w[0] & MASK51;
    h->v[1] = ((w[0] >> 51) | (w[1] << 13)) & MASK51;
    h->v[2] = ((w[1] >> 38) | (w[2] << 26)) & MASK51;
    h->v[3] = ((w[2] >> 25) | (w[3] << 39)) & MASK51;
    h->v[4] = (w[3] >> 12) & MASK51;
}

/* The canonical encoding (value mod p, below p). */
static void fe_tobytes(unsigned char *s, const fe *f)
{
    fe h = *f;
    fe_carry(&h);
    fe_carry(&h); /* limbs below 2^51 + 19*2^?: value below 2p */
    u64 q = (h.v[0] + 19) >> 51;
    q = (h.v[1] + q) >> 51;
    q = (h.v[2] + q) >> 51;
    q = (h.v[3] + q) >> 51;
    q = (h.v[4] + q) >> 51; /* 1 iff value >= p */
    h.v[0] += 19 * q;
    u64 c;
    c = h.v[0] >> 51; h.v[0] &= MASK51; h.v[1] += c;
    c = h.v[1] >> 51; h.v[1] &= MASK51; h.v[2] += c;
    c = h.v[2] >> 51; h.v[2] &= MASK51; h.v[3] += c;
    c = h.v[3] >> 51; h.v[3] &= MASK51; h.v[4] += c;
    h.v[4] &= MASK51; /* drops 2^255, i.e. subtracts p together with the +19 */
    u64 w[4];
    w[0] = h.v[0] | (h.v[1] << 51);
    w[1] = (h.v[1] >> 13) | (h.v[2] << 38);
    w[2] = (h.v[2] >> 26) | (h.v[3] << 25);
    w[3] = (h.v[3] >> 39) | (h.v[4] << 12);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) s[8 * i + j] = (unsigned char)(w[i] >> (8 * j));
}

static int fe_isnegative(const fe *f)
{
    unsigned char s[32];
    fe_tobytes(s, f);
    return s[0] & 1;
}

static int fe_iszero(const fe *f)
{
    unsigned char s[32];
    fe_tobytes(s, f);
    unsigned char acc = 0;
    for (int i = 0; i < 32; i++) acc |= s[i];
    return acc == 0;
}

static int fe_equal(const fe *f, const fe *g)
{
    fe d;
    fe_sub(&d, f, g);
    return fe_iszero(&d);
}

/* f = g where b == 1, unchanged where b == 0; no branch on b. */
static inline void fe_cmov(fe *f, const fe *g, u64 b)
{
    const u64 mask = (u64)0 - b;
    for (int i = 0; i < 5; i++) f->v[i] ^= mask & (f->v[i] ^ g->v[i]);
}

/* Swaps f and g where b == 1; no branch on b. */
static inline void fe_cswap(fe *f, fe *g, u64 b)
{
    const u64 mask = (u64)0 - b;
    for (int i = 0; i < 5; i++) {
        const u64 x = mask & (f->v[i] ^ g->v[i]);
        f->v[i] ^= x;
        g->v[i] ^= x;
    }
}

/* Every 1/values[k] (none may be 0) for one inversion; scratch holds count. */
static void fe_batch_invert(fe *values, fe *scratch, size_t count)
{
    fe acc, inverse, t;
    fe_1(&acc);
    for (size_t k = 0; k < count; k++) {
        scratch[k] = acc;
        fe_mul(&acc, &acc, &values[k]);
    }
    fe_invert(&inverse, &acc);
    for (size_t k = count; k-- > 0;) {
        fe_mul(&t, &inverse, &scratch[k]);
        fe_mul(&inverse, &inverse, &values[k]);
        values[k] = t;
    }
}

/* --- points ------------------------------------------------------------- */


/* monero's ge_frombytes_vartime: 0 where monero refuses the encoding (y not
 * below p, no x on the curve, or x = 0 with the sign bit set). */
static int ge_frombytes(ge_p3 *h, const unsigned char *s)
{
    unsigned char canonical[32], y_bytes[32];
    fe u, v, v3, vxx, check;
    memcpy(y_bytes, s, 32);
    y_bytes[31] &= 0x7f;
    fe_frombytes(&h->Y, y_bytes);
    fe_tobytes(canonical, &h->Y);
    if (memcmp(canonical, y_bytes, 32) != 0) return 0; /* y >= p */
    fe_1(&h->Z);
    fe_sq(&u, &h->Y);
    fe_mul(&v, &u, &FE_D);
    fe_sub(&u, &u, &h->Z);          /* u = y^2 - 1 */
    fe_add(&v, &v, &h->Z);          /* v = d y^2 + 1 */
    fe_sq(&v3, &v);
    fe_mul(&v3, &v3, &v);           /* v^3 */
    fe_sq(&h->X, &v3);
    fe_mul(&h->X, &h->X, &v);
    fe_mul(&h->X, &h->X, &u);       /* u v^7 */
    fe_pow22523(&h->X, &h->X);      /* (u v^7)^((p-5)/8) */
    fe_mul(&h->X, &h->X, &v3);
    fe_mul(&h->X, &h->X, &u);       /* x = u v^3 (u v^7)^((p-5)/8) */
    fe_sq(&vxx, &h->X);
    fe_mul(&vxx, &vxx, &v);
    if (!fe_equal(&vxx, &u)) {
        fe_neg(&check, &u);
        if (!fe_equal(&vxx, &check)) return 0;
        fe_mul(&h->X, &h->X, &FE_SQRTM1);
    }
    const int sign = s[31] >> 7;
    if (fe_iszero(&h->X)) {
        if (sign) return 0;
    } else if (fe_isnegative(&h->X) != sign) {
        fe_neg(&h->X, &h->X);
    }
    fe_mul(&h->T, &h->X, &h->Y);
    return 1;
}

static inline void ge_p3_0(ge_p3 *h)
{
    fe_0(&h->X); fe_1(&h->Y); fe_1(&h->Z); fe_0(&h->T);
}

static inline void ge_cached_0(ge_cached *h)
{
    fe_1(&h->YplusX); fe_1(&h->YminusX); fe_1(&h->Z); fe_0(&h->T2d);
}

static inline void ge_p1p1_to_p2(ge_p2 *r, const ge_p1p1 *p)
{
    fe_mul(&r->X, &p->X, &p->T);
    fe_mul(&r->Y, &p->Y, &p->Z);
    fe_mul(&r->Z, &p->Z, &p->T);
}

static inline void ge_p1p1_to_p3(ge_p3 *r, const ge_p1p1 *p)
{
    fe_mul(&r->X, &p->X, &p->T);
    fe_mul(&r->Y, &p->Y, &p->Z);
    fe_mul(&r->Z, &p->Z, &p->T);
    fe_mul(&r->T, &p->X, &p->Y);
}

static inline void ge_p3_to_cached(ge_cached *r, const ge_p3 *p)
{
    fe_add(&r->YplusX, &p->Y, &p->X);
    fe_sub(&r->YminusX, &p->Y, &p->X);
    fe_carry(&r->YplusX);
    r->Z = p->Z;
    fe_mul(&r->T2d, &p->T, &FE_D2);
}

/* r = 2p, for a projective p (X, Y, Z). */
static inline void ge_p2_dbl(ge_p1p1 *r, const fe *X, const fe *Y, const fe *Z)
{
    fe t0;
    fe_sq(&r->X, X);                /* XX */
    fe_sq(&r->Z, Y);                /* YY */
    fe_sq(&r->T, Z);
    fe_add(&r->T, &r->T, &r->T);    /* 2 ZZ */
    fe_add(&r->Y, X, Y);
    fe_sq(&t0, &r->Y);              /* (X + Y)^2 */
    fe_add(&r->Y, &r->Z, &r->X);    /* YY + XX */
    fe_sub(&r->Z, &r->Z, &r->X);    /* YY - XX */
    fe_sub(&r->X, &t0, &r->Y);      /* 2XY */
    fe_sub(&r->T, &r->T, &r->Z);    /* 2ZZ - (YY - XX) */
}

/* r = p + q (complete). */
static inline void ge_add(ge_p1p1 *r, const ge_p3 *p, const ge_cached *q)
{
    fe t0;
    fe_add(&r->X, &p->Y, &p->X);
    fe_sub(&r->Y, &p->Y, &p->X);
    fe_mul(&r->Z, &r->X, &q->YplusX);
    fe_mul(&r->Y, &r->Y, &q->YminusX);
    fe_mul(&r->T, &q->T2d, &p->T);
    fe_mul(&r->X, &p->Z, &q->Z);
    fe_add(&t0, &r->X, &r->X);
    fe_sub(&r->X, &r->Z, &r->Y);
    fe_add(&r->Y, &r->Z, &r->Y);
    fe_add(&r->Z, &t0, &r->T);
    fe_sub(&r->T, &t0, &r->T);
}

static inline void ge_p3_dbl_to_p3(ge_p3 *r, const ge_p3 *p)
{
    ge_p1p1 t;
    ge_p2_dbl(&t, &p->X, &p->Y, &p->Z);
    ge_p1p1_to_p3(r, &t);
}

/* 16 p, with T computed only for the last doubling. */
static inline void ge_p3_mul16(ge_p3 *r, const ge_p3 *p)
{
    ge_p1p1 t;
    ge_p2 s;
    ge_p2_dbl(&t, &p->X, &p->Y, &p->Z);
    ge_p1p1_to_p2(&s, &t);
    ge_p2_dbl(&t, &s.X, &s.Y, &s.Z);
    ge_p1p1_to_p2(&s, &t);
    ge_p2_dbl(&t, &s.X, &s.Y, &s.Z);
    ge_p1p1_to_p2(&s, &t);
    ge_p2_dbl(&t, &s.X, &s.Y, &s.Z);
    ge_p1p1_to_p3(r, &t);
}

static inline void ge_add_to(ge_p3 *h, const ge_cached *q)
{
    ge_p1p1 t;
    ge_add(&t, h, q);
    ge_p1p1_to_p3(h, &t);
}

static inline u64 equal_u8(unsigned char a, unsigned char b)
{
    return (u64)(((uint32_t)(a ^ b) - 1) >> 31);
}

/* t = digit * (the point whose multiples 1..8 are in row), digit in -8..8,
 * reading every entry of the row whatever the digit. */
static inline void select_cached(ge_cached *t, const ge_cached row[8], signed char digit)
{
    const unsigned char negative = (unsigned char)(((unsigned)(int)digit) >> 31) & 1;
    const unsigned char magnitude = (unsigned char)(digit - ((-negative) & (digit << 1)));
    ge_cached_0(t);
    for (int j = 0; j < 8; j++) {
        const u64 take = equal_u8(magnitude, (unsigned char)(j + 1));
        fe_cmov(&t->YplusX, &row[j].YplusX, take);
        fe_cmov(&t->YminusX, &row[j].YminusX, take);
        fe_cmov(&t->Z, &row[j].Z, take);
        fe_cmov(&t->T2d, &row[j].T2d, take);
    }
    fe swapped_plus = t->YminusX, swapped_minus = t->YplusX, negated_t2d;
    fe_neg(&negated_t2d, &t->T2d);
    fe_cmov(&t->YplusX, &swapped_plus, negative);
    fe_cmov(&t->YminusX, &swapped_minus, negative);
    fe_cmov(&t->T2d, &negated_t2d, negative);
}

/* Signed radix-16 digits of a 32-byte little-endian scalar below 2^255:
 * s = sum e[i] 16^i with e[i] in -8..7 (e[63] in 0..8). */
static void scalar_digits(signed char e[64], const unsigned char *s)
{
    for (int i = 0; i < 32; i++) {
        e[2 * i] = (signed char)(s[i] & 15);
        e[2 * i + 1] = (signed char)((s[i] >> 4) & 15);
    }
    signed char carry = 0;
    for (int i = 0; i < 63; i++) {
        e[i] = (signed char)(e[i] + carry);
        carry = (signed char)((e[i] + 8) >> 4);
        e[i] = (signed char)(e[i] - (carry << 4));
    }
    e[63] = (signed char)(e[63] + carry);
}

/* row[j] = (j + 1) base, j = 0..7. */
static void multiples_row(ge_cached row[8], const ge_p3 *base)
{
    ge_p3 acc = *base;
    ge_p3_to_cached(&row[0], base);
    for (int j = 1; j < 8; j++) {
        ge_add_to(&acc, &row[0]);
        ge_p3_to_cached(&row[j], &acc);
    }
}

/* The comb: table[i][j] = (j + 1) 256^i Q. */
static void comb_table(ge_cached table[32][8], const ge_p3 *q)
{
    ge_p3 base = *q;
    for (int i = 0; i < 32; i++) {
        if (i > 0) {
            ge_p3_mul16(&base, &base);
            ge_p3_mul16(&base, &base);
        }
        multiples_row(table[i], &base);
    }
}

static void comb_mul(ge_p3 *h, const ge_cached table[32][8], const signed char e[64])
{
    ge_cached t;
    ge_p3_0(h);
    for (int i = 1; i < 64; i += 2) {
        select_cached(&t, table[i / 2], e[i]);
        ge_add_to(h, &t);
    }
    ge_p3_mul16(h, h);
    for (int i = 0; i < 64; i += 2) {
        select_cached(&t, table[i / 2], e[i]);
        ge_add_to(h, &t);
    }
}

static void window_mul(ge_p3 *h, const ge_cached row[8], const signed char e[64])
{
    ge_cached t;
    select_cached(&t, row, e[63]);
    ge_p3_0(h);
    ge_add_to(h, &t);
    for (int i = 62; i >= 0; i--) {
        ge_p3_mul16(h, h);
        select_cached(&t, row, e[i]);
        ge_add_to(h, &t);
    }
}

/* Q = 8R for a key R as monero decodes it: 1, or 0 where monero refuses the
 * key or Q is the identity (R of small order); every derivation of such a
 * key is the identity (wallet2 scans a refused key with it, too). */
static int decode_times_8(ge_p3 *q, const unsigned char *key)
{
    if (!ge_frombytes(q, key)) return 0;
    ge_p3_dbl_to_p3(q, q);
    ge_p3_dbl_to_p3(q, q);
    ge_p3_dbl_to_p3(q, q); /* no torsion left */
    return !fe_iszero(&q->X); /* x = 0 with prime order: the identity */
}

/* --- Montgomery ladder with y recovery (for one or two scalars per key) --- */

/* A point of Curve25519 (v^2 = u^3 + A u^2 + u) in projective (U : V : W). */
typedef struct { fe U, V, W; } mont_p2;

/* The ladder of k * (u, v) for an affine point of order l and 0 < k < l - 1:
 * (x2 : z2) = u(kP) and (x3 : z3) = u((k + 1)P).  Constant-time in k: 253
 * ladder steps and swaps by mask. */
static void mont_ladder(fe *x2, fe *z2, fe *x3, fe *z3, const fe *u, const unsigned char *k)
{
    fe a, aa, b, bb, e, c, d, da, cb, t;
    fe_1(x2); fe_0(z2);
    *x3 = *u; fe_1(z3);
    u64 swap = 0;
    for (int i = 252; i >= 0; i--) {
        const u64 bit = (k[i >> 3] >> (i & 7)) & 1;
        swap ^= bit;
        fe_cswap(x2, x3, swap);
        fe_cswap(z2, z3, swap);
        swap = bit;
        fe_add(&a, x2, z2);
        fe_sq(&aa, &a);
        fe_sub_nc(&b, x2, z2);
        fe_sq(&bb, &b);
        fe_sub_nc(&e, &aa, &bb);
        fe_add(&c, x3, z3);
        fe_sub_nc(&d, x3, z3);
        fe_mul(&da, &d, &a);
        fe_mul(&cb, &c, &b);
        fe_add(&t, &da, &cb);
        fe_sq(x3, &t);
        fe_sub_nc(&t, &da, &cb);
        fe_sq(&t, &t);
        fe_mul(z3, &t, u);
        fe_mul(x2, &aa, &bb);
        fe_mul_small(&t, &e, MONTGOMERY_A24);
        fe_add(&t, &t, &aa);
        fe_mul(z2, &e, &t);
    }
    fe_cswap(x2, x3, swap);
    fe_cswap(z2, z3, swap);
}

/* kP from the ladder's (x2 : z2) = u(kP) and (x3 : z3) = u((k + 1)P), with
 * its v coordinate recovered by Okeya-Sakurai's formula (Costello-Smith,
 * "Montgomery curves and their arithmetic", alg. 5). */
static void mont_recover(mont_p2 *out, const fe *u, const fe *v, const fe *x2, const fe *z2,
                         const fe *x3, const fe *z3)
{
    fe v1, v2, v3, v4;
    fe_mul(&v1, u, z2);
    fe_add(&v2, x2, &v1);
    fe_sub(&v3, x2, &v1);
    fe_sq(&v3, &v3);
    fe_mul(&v3, &v3, x3);
    fe_mul_small(&v1, z2, MONTGOMERY_2A);
    fe_add(&v2, &v2, &v1);
    fe_mul(&v4, u, x2);
    fe_add(&v4, &v4, z2);
    fe_mul(&v2, &v2, &v4);
    fe_mul(&v1, &v1, z2);
    fe_sub(&v2, &v2, &v1);
    fe_mul(&v2, &v2, z3);
    fe_sub(&out->V, &v2, &v3);
    fe_add(&v1, v, v);
    fe_mul(&v1, &v1, z2);
    fe_mul(&v1, &v1, z3);
    fe_mul(&out->U, &v1, x2);
    fe_mul(&out->W, &v1, z2);
}

/* k * (u, v) for an affine point (u, v) of order l and 0 < k < l - 1. */
static void mont_mul(mont_p2 *out, const fe *u, const fe *v, const unsigned char *k)
{
    fe x2, z2, x3, z3;
    mont_ladder(&x2, &z2, &x3, &z3, u, k);
    mont_recover(out, u, v, &x2, &z2, &x3, &z3);
}

/* --- the same ladder on 8 keys at once, with AVX-512 IFMA ------------------
 *
 * Eight field elements side by side, one per 64-bit lane, in the same radix
 * 2^51 as fe; vpmadd52luq / vpmadd52huq give the low and high 52 bits of
 * each 52 x 52-bit limb product.  Every lane runs the same ladder (the same
 * scalar, hence the same swaps) on its own key, so the code is as
 * constant-time as the scalar ladder.  Used where the CPU has AVX-512 IFMA
 * (checked at import) unless set_vector_lanes(False) turned it off. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(LWS_NO_IFMA)
#define HAVE_IFMA 1
#include <immintrin.h>
#define IFMA __attribute__((target("avx512f,avx512ifma")))

typedef __m512i v8;
/* Limb i of 8 elements.  Invariant of every stored fe8: limbs below
 * 2^51 + 2^17 (what vpmadd52 reads is the low 52 bits). */
typedef struct { v8 v[5]; } fe8;

IFMA static inline v8 v8_times19(v8 x)
{
    return _mm512_add_epi64(_mm512_add_epi64(x, _mm512_slli_epi64(x, 1)), _mm512_slli_epi64(x, 4));
}

/* One parallel carry round: limbs below 2^63 in, below 2^51 + 2^17 out. */
IFMA static inline void fe8_carry(fe8 *h)
{
    const v8 mask = _mm512_set1_epi64((long long)MASK51);
    v8 c[5];
    for (int i = 0; i < 5; i++) {
        c[i] = _mm512_srli_epi64(h->v[i], 51);
        h->v[i] = _mm512_and_si512(h->v[i], mask);
    }
    h->v[0] = _mm512_add_epi64(h->v[0], v8_times19(c[4]));
    for (int i = 1; i < 5; i++) h->v[i] = _mm512_add_epi64(h->v[i], c[i - 1]);
}

/* From the column sums of a product (lo[k], hi[k]: the low and high 52-bit
 * halves of the limb products of weight 2^(51k)), each below 5 * 2^52:
 * column k is lo[k] + 2 hi[k - 1] (below 2^56), columns 5..9 fold onto 0..4
 * times 19 (below 2^62), then one carry round. */
IFMA static inline void fe8_reduce(fe8 *h, const v8 lo[9], const v8 hi[9])
{
    v8 z[10];
    z[0] = lo[0];
    for (int k = 1; k < 9; k++) z[k] = _mm512_add_epi64(lo[k], _mm512_slli_epi64(hi[k - 1], 1));
    z[9] = _mm512_slli_epi64(hi[8], 1);
    for (int k = 0; k < 5; k++) h->v[k] = _mm512_add_epi64(z[k], v8_times19(z[k + 5]));
    fe8_carry(h);
}

IFMA static inline void fe8_mul(fe8 *h, const fe8 *f, const fe8 *g)
{
    v8 lo[9], hi[9];
    for (int k = 0; k < 9; k++) lo[k] = hi[k] = _mm512_setzero_si512();
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) {
            lo[i + j] = _mm512_madd52lo_epu64(lo[i + j], f->v[i], g->v[j]);
            hi[i + j] = _mm512_madd52hi_epu64(hi[i + j], f->v[i], g->v[j]);
        }
    fe8_reduce(h, lo, hi);
}

IFMA static inline void fe8_sq(fe8 *h, const fe8 *f)
{
    v8 lo[9], hi[9], cross_lo[9], cross_hi[9];
    for (int k = 0; k < 9; k++)
        lo[k] = hi[k] = cross_lo[k] = cross_hi[k] = _mm512_setzero_si512();
    for (int i = 0; i < 5; i++) {
        lo[2 * i] = _mm512_madd52lo_epu64(lo[2 * i], f->v[i], f->v[i]);
        hi[2 * i] = _mm512_madd52hi_epu64(hi[2 * i], f->v[i], f->v[i]);
        for (int j = i + 1; j < 5; j++) {
            cross_lo[i + j] = _mm512_madd52lo_epu64(cross_lo[i + j], f->v[i], f->v[j]);
            cross_hi[i + j] = _mm512_madd52hi_epu64(cross_hi[i + j], f->v[i], f->v[j]);
        }
    }
    for (int k = 1; k < 8; k++) {
        lo[k] = _mm512_add_epi64(lo[k], _mm512_slli_epi64(cross_lo[k], 1));
        hi[k] = _mm512_add_epi64(hi[k], _mm512_slli_epi64(cross_hi[k], 1));
    }
    fe8_reduce(h, lo, hi);
}

/* h = f * n for a constant n below 2^52. */
IFMA static inline void fe8_mul_small(fe8 *h, const fe8 *f, u64 n)
{
    const v8 m = _mm512_set1_epi64((long long)n), zero = _mm512_setzero_si512();
    v8 lo[5], hi[5];
    for (int i = 0; i < 5; i++) {
        lo[i] = _mm512_madd52lo_epu64(zero, f->v[i], m);
        hi[i] = _mm512_madd52hi_epu64(zero, f->v[i], m);
    }
    h->v[0] = _mm512_add_epi64(lo[0], v8_times19(_mm512_slli_epi64(hi[4], 1)));
    for (int i = 1; i < 5; i++) h->v[i] = _mm512_add_epi64(lo[i], _mm512_slli_epi64(hi[i - 1], 1));
    fe8_carry(h);
}

IFMA static inline void fe8_add(fe8 *h, const fe8 *f, const fe8 *g)
{
    for (int i = 0; i < 5; i++) h->v[i] = _mm512_add_epi64(f->v[i], g->v[i]);
    fe8_carry(h);
}

/* h = f - g + 2p (2p's limbs exceed any stored limb), carried. */
IFMA static inline void fe8_sub(fe8 *h, const fe8 *f, const fe8 *g)
{
    const v8 two_p0 = _mm512_set1_epi64((long long)((((u64)1) << 52) - 38));
    const v8 two_pi = _mm512_set1_epi64((long long)((((u64)1) << 52) - 2));
    for (int i = 0; i < 5; i++)
        h->v[i] = _mm512_sub_epi64(_mm512_add_epi64(f->v[i], i == 0 ? two_p0 : two_pi), g->v[i]);
    fe8_carry(h);
}

/* Swaps f and g in the lanes where b is 1 (b is 0 or 1 per lane). */
IFMA static inline void fe8_cswap(fe8 *f, fe8 *g, v8 b)
{
    const v8 mask = _mm512_sub_epi64(_mm512_setzero_si512(), b);
    for (int i = 0; i < 5; i++) {
        const v8 x = _mm512_and_si512(mask, _mm512_xor_si512(f->v[i], g->v[i]));
        f->v[i] = _mm512_xor_si512(f->v[i], x);
        g->v[i] = _mm512_xor_si512(g->v[i], x);
    }
}

IFMA static void fe8_load(fe8 *h, const fe f[8])
{
    for (int i = 0; i < 5; i++) {
        u64 lanes[8];
        for (int k = 0; k < 8; k++) {
            fe t = f[k];
            fe_carry(&t);
            lanes[k] = t.v[i];
        }
        h->v[i] = _mm512_loadu_si512((const void *)lanes);
    }
}

IFMA static void fe8_store(fe f[8], const fe8 *h)
{
    for (int i = 0; i < 5; i++) {
        u64 lanes[8];
        _mm512_storeu_si512((void *)lanes, h->v[i]);
        for (int k = 0; k < 8; k++) f[k].v[i] = lanes[k];
    }
}

/* mont_ladder on 8 lanes, each its own point u[lane] and scalar k[lane]:
 * every lane takes the same 253 steps, swaps by per-lane masks. */
IFMA static void mont_ladder8(fe x2_out[8], fe z2_out[8], fe x3_out[8], fe z3_out[8],
                              const fe u_in[8], const unsigned char *const k[8])
{
    fe8 u, x2, z2, x3, z3, a, aa, b, bb, e, c, d, da, cb, t;
    v8 words[4];
    for (int w = 0; w < 4; w++) {
        u64 lanes[8];
        for (int lane = 0; lane < 8; lane++) {
            u64 x = 0;
            for (int j = 7; j >= 0; j--) x = (x << 8) | k[lane][8 * w + j];
            lanes[lane] = x;
        }
        words[w] = _mm512_loadu_si512((const void *)lanes);
    }
    fe8_load(&u, u_in);
    const v8 zero = _mm512_setzero_si512(), one = _mm512_set1_epi64(1);
    for (int i = 0; i < 5; i++) {
        x2.v[i] = i == 0 ? one : zero;
        z2.v[i] = zero;
        x3.v[i] = u.v[i];
        z3.v[i] = i == 0 ? one : zero;
    }
    v8 swap = zero;
    for (int i = 252; i >= 0; i--) {
        const v8 bit = _mm512_and_si512(
            _mm512_srl_epi64(words[i >> 6], _mm_cvtsi32_si128(i & 63)), one);
        swap = _mm512_xor_si512(swap, bit);
        fe8_cswap(&x2, &x3, swap);
        fe8_cswap(&z2, &z3, swap);
        swap = bit;
        fe8_add(&a, &x2, &z2);
        fe8_sq(&aa, &a);
        fe8_sub(&b, &x2, &z2);
        fe8_sq(&bb, &b);
        fe8_sub(&e, &aa, &bb);
        fe8_add(&c, &x3, &z3);
        fe8_sub(&d, &x3, &z3);
        fe8_mul(&da, &d, &a);
        fe8_mul(&cb, &c, &b);
        fe8_add(&t, &da, &cb);
        fe8_sq(&x3, &t);
        fe8_sub(&t, &da, &cb);
        fe8_sq(&t, &t);
        fe8_mul(&z3, &t, &u);
        fe8_mul(&x2, &aa, &bb);
        fe8_mul_small(&t, &e, MONTGOMERY_A24);
        fe8_add(&t, &t, &aa);
        fe8_mul(&z2, &e, &t);
    }
    fe8_cswap(&x2, &x3, swap);
    fe8_cswap(&z2, &z3, swap);
    fe8_store(x2_out, &x2);
    fe8_store(z2_out, &z2);
    fe8_store(x3_out, &x3);
    fe8_store(z3_out, &z3);
}

static int vector_lanes_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512ifma");
}
#else
#define HAVE_IFMA 0
static int vector_lanes_available(void) { return 0; }
#endif

/* Whether ladders run 8 at a time (set at import; tests switch it). */
static int use_vector_lanes = 0;

/* kP on Edwards, from the ladder's Montgomery result: (x, y) =
 * (sqrt(-486664) U / V, (U - W) / (U + W)), kept as X = sqrt(-486664) U (U + W),
 * Y = (U - W) V, Z = V (U + W). */
static void mont_to_edwards(ge_p3 *r, const mont_p2 *m)
{
    fe sum;
    fe_add(&sum, &m->U, &m->W);
    fe_mul(&r->X, &m->U, &FE_SQRT_M486664);
    fe_mul(&r->X, &r->X, &sum);
    fe_sub(&r->Y, &m->U, &m->W);
    fe_mul(&r->Y, &r->Y, &m->V);
    fe_mul(&r->Z, &m->V, &sum);
}

/* One ladder job: results[slot] = scalar * (us, vs)[key]. */
typedef struct { size_t key, slot; const unsigned char *scalar; } ladder_job;

/* Runs the ladder jobs: 8 at a time where the CPU allows, else one by one. */
static void ladders(ge_p3 *results, const ladder_job *jobs, size_t count, const fe *us,
                    const fe *vs)
{
    size_t q = 0;
#if HAVE_IFMA
    if (use_vector_lanes) {
        for (; q < count; q += 8) {
            fe u[8], x2[8], z2[8], x3[8], z3[8];
            const unsigned char *k[8];
            const size_t lanes = count - q < 8 ? count - q : 8;
            for (size_t lane = 0; lane < 8; lane++) {
                const ladder_job *job = &jobs[q + (lane < lanes ? lane : 0)];
                u[lane] = us[job->key];
                k[lane] = job->scalar;
            }
            mont_ladder8(x2, z2, x3, z3, u, k);
            for (size_t lane = 0; lane < lanes; lane++) {
                const ladder_job *job = &jobs[q + lane];
                mont_p2 m;
                mont_recover(&m, &us[job->key], &vs[job->key], &x2[lane], &z2[lane], &x3[lane],
                             &z3[lane]);
                mont_to_edwards(&results[job->slot], &m);
            }
        }
        return;
    }
#endif
    for (; q < count; q++) {
        mont_p2 m;
        mont_mul(&m, &us[jobs[q].key], &vs[jobs[q].key], jobs[q].scalar);
        mont_to_edwards(&results[jobs[q].slot], &m);
    }
}

/* Encodes count points at once: one field inversion for all their Z. */
static void batch_encode(unsigned char *out, size_t stride, const ge_p3 *points, fe *scratch,
                         size_t count)
{
    fe acc, inverse, zi, x, y;
    fe_1(&acc);
    for (size_t k = 0; k < count; k++) {
        scratch[k] = acc;
        fe_mul(&acc, &acc, &points[k].Z);
    }
    fe_invert(&inverse, &acc);
    for (size_t k = count; k-- > 0;) {
        fe_mul(&zi, &inverse, &scratch[k]);
        fe_mul(&inverse, &inverse, &points[k].Z);
        fe_mul(&x, &points[k].X, &zi);
        fe_mul(&y, &points[k].Y, &zi);
        unsigned char *s = out + k * stride;
        fe_tobytes(s, &y);
        s[31] ^= (unsigned char)(fe_isnegative(&x) << 7);
    }
}

/* Results encoded together (one field inversion for all): keys are taken in
 * blocks of at least this many derivations. */
#define ENCODE_BATCH 64

/* Below this many scalars per key the comb table costs more than it saves,
 * and the Montgomery ladder is used. */
#define COMB_MIN_SCALARS 3

/* l - 1, little-endian: with 0, the scalars the ladder's y recovery cannot
 * take (kP or (k+1)P is the point at infinity); the window method does. */
static const unsigned char L_MINUS_1[32] = {
    0xec, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
static const unsigned char ZERO_SCALAR[32] = {0};

/* The ladder path for a block of points Q = 8R: to Montgomery (u, v) with
 * one batched inversion, the ladder per scalar, and back to Edwards
 * encodings with another.  `usable` says which points are not the identity
 * (the others' derivations are the identity). */
static void ladder_block(unsigned char *out, const ge_p3 *points, const int *usable,
                         size_t n_points, const unsigned char *scalars,
                         const signed char (*digits)[64], size_t n_scalars, fe *us, fe *vs,
                         fe *denominators, ge_p3 *results, fe *scratch, unsigned char *encoded)
{
    /* (u, v) = ((Z + Y)/(Z - Y), sqrt(-486664) (Z + Y) Z / ((Z - Y) X)) */
    for (size_t k = 0; k < n_points; k++) {
        if (!usable[k]) { fe_1(&denominators[k]); continue; }
        fe t;
        fe_sub(&t, &points[k].Z, &points[k].Y);
        fe_mul(&denominators[k], &t, &points[k].X);
    }
    fe_batch_invert(denominators, scratch, n_points);
    for (size_t k = 0; k < n_points; k++) {
        if (!usable[k]) continue;
        fe zy;
        fe_add(&zy, &points[k].Z, &points[k].Y);
        fe_mul(&us[k], &zy, &points[k].X);
        fe_mul(&us[k], &us[k], &denominators[k]);
        fe_mul(&vs[k], &zy, &points[k].Z);
        fe_mul(&vs[k], &vs[k], &denominators[k]);
        fe_mul(&vs[k], &vs[k], &FE_SQRT_M486664);
    }
    /* Per (key, scalar): the identity for unusable keys, the window method on
     * the rare scalars the ladder cannot take, else a ladder job (run 8 at a
     * time where the CPU can); scalars go in groups so that a group's
     * results (n_points each) are encoded together, ENCODE_BATCH at most. */
    const size_t group = ENCODE_BATCH / n_points;
    for (size_t first = 0; first < n_scalars; first += group) {
        const size_t width = first + group < n_scalars ? group : n_scalars - first;
        ladder_job jobs[ENCODE_BATCH];
        size_t n_jobs = 0;
        for (size_t k = 0; k < n_points; k++) {
            for (size_t j = first; j < first + width; j++) {
                const unsigned char *scalar = scalars + 32 * j;
                ge_p3 *result = &results[k * width + (j - first)];
                if (!usable[k]) {
                    ge_p3_0(result);
                } else if (memcmp(scalar, ZERO_SCALAR, 32) == 0 ||
                           memcmp(scalar, L_MINUS_1, 32) == 0) {
                    ge_cached row[8];
                    multiples_row(row, &points[k]);
                    window_mul(result, row, digits[j]);
                } else {
                    jobs[n_jobs].key = k;
                    jobs[n_jobs].slot = k * width + (j - first);
                    jobs[n_jobs].scalar = scalar;
                    n_jobs++;
                }
            }
        }
        ladders(results, jobs, n_jobs, us, vs);
        batch_encode(encoded, 32, results, scratch, n_points * width);
        for (size_t k = 0; k < n_points; k++)
            memcpy(out + (k * n_scalars + first) * 32, encoded + k * width * 32, width * 32);
    }
}


/* out[(k * n_scalars + j) * 32] = monero's derivation of key k for scalar j:
 * the encoding of scalar_j * 8 * R_k, or the identity for a key monero does
 * not decode (wallet2's fallback).  Scalars must be below 2^255. */
static int derive_all(unsigned char *out, const unsigned char *keys, size_t n_keys,
                      const unsigned char *scalars, size_t n_scalars)
{
    /* The ladder for few scalars, or for any number 8 keys at a time where
     * the ladders run 8 at a time (then ~3x faster than the comb's 64
     * additions, here); the comb table otherwise. */
    const int comb = n_scalars >= COMB_MIN_SCALARS && !use_vector_lanes;
    const size_t keys_per_block = n_scalars >= ENCODE_BATCH ? 1 : ENCODE_BATCH / n_scalars;
    const size_t block = comb ? keys_per_block * n_scalars : ENCODE_BATCH;
    signed char(*digits)[64] = PyMem_RawMalloc(n_scalars * 64);
    ge_p3 *results = PyMem_RawMalloc(block * sizeof(ge_p3));
    fe *scratch = PyMem_RawMalloc(block * sizeof(fe));
    unsigned char *encoded = PyMem_RawMalloc(ENCODE_BATCH * 32);
    ge_cached(*table)[8] = PyMem_RawMalloc(32 * sizeof(ge_cached[8]));
    ge_p3 *points = PyMem_RawMalloc(keys_per_block * sizeof(ge_p3));
    int *usable = PyMem_RawMalloc(keys_per_block * sizeof(int));
    fe *us = PyMem_RawMalloc(keys_per_block * 3 * sizeof(fe));
    const int ok = digits && results && scratch && encoded && table && points && usable && us;
    if (ok) {
        for (size_t j = 0; j < n_scalars; j++) scalar_digits(digits[j], scalars + 32 * j);
        for (size_t first = 0; first < n_keys; first += keys_per_block) {
            const size_t count = first + keys_per_block < n_keys ? keys_per_block : n_keys - first;
            unsigned char *block_out = out + first * n_scalars * 32;
            for (size_t k = 0; k < count; k++)
                usable[k] = decode_times_8(&points[k], keys + 32 * (first + k));
            if (!comb) {
                ladder_block(block_out, points, usable, count, scalars,
                             (const signed char(*)[64])digits, n_scalars, us,
                             us + keys_per_block, us + 2 * keys_per_block, results, scratch,
                             encoded);
                continue;
            }
            for (size_t k = 0; k < count; k++) {
                ge_p3 *result = results + k * n_scalars;
                if (!usable[k]) {
                    for (size_t j = 0; j < n_scalars; j++) ge_p3_0(&result[j]);
                    continue;
                }
                comb_table(table, &points[k]);
                for (size_t j = 0; j < n_scalars; j++) comb_mul(&result[j], table, digits[j]);
            }
            batch_encode(block_out, 32, results, scratch, count * n_scalars);
        }
    }
    PyMem_RawFree(encoded);
    PyMem_RawFree(digits);
    PyMem_RawFree(results);
    PyMem_RawFree(scratch);
    PyMem_RawFree(table);
    PyMem_RawFree(points);
    PyMem_RawFree(usable);
    PyMem_RawFree(us);
    return ok;
}

/* --- outputs without view tags: P - Hs(D || i) G ---------------------------- */

/* Keccak-256 with Keccak's own padding (monero's cn_fast_hash) of a message
 * shorter than the rate (136 bytes): one permutation. */
#define KECCAK_RATE 136
#define ROTL64(x, n) (((x) << (n)) | ((x) >> (64 - (n))))

static const u64 KECCAK_RC[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL};
static const int KECCAK_ROTC[24] = {1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
                                    27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44};
static const int KECCAK_PILN[24] = {10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
                                    15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1};

static void keccakf(u64 st[25])
{
    u64 bc[5], t;
    for (int round = 0; round < 24; round++) {
        for (int i = 0; i < 5; i++) bc[i] = st[i] ^ st[i + 5] ^ st[i + 10] ^ st[i + 15] ^ st[i + 20];
        for (int i = 0; i < 5; i++) {
            t = bc[(i + 4) % 5] ^ ROTL64(bc[(i + 1) % 5], 1);
            for (int j = 0; j < 25; j += 5) st[j + i] ^= t;
        }
        t = st[1];
        for (int i = 0; i < 24; i++) {
            const int j = KECCAK_PILN[i];
            bc[0] = st[j];
            st[j] = ROTL64(t, KECCAK_ROTC[i]);
            t = bc[0];
        }
        for (int j = 0; j < 25; j += 5) {
            for (int i = 0; i < 5; i++) bc[i] = st[j + i];
            for (int i = 0; i < 5; i++) st[j + i] ^= (~bc[(i + 1) % 5]) & bc[(i + 2) % 5];
        }
        st[0] ^= KECCAK_RC[round];
    }
}

static void keccak256_short(unsigned char out[32], const unsigned char *in, size_t len)
{
    unsigned char block[KECCAK_RATE] = {0};
    u64 st[25] = {0};
    memcpy(block, in, len);
    block[len] ^= 0x01;
    block[KECCAK_RATE - 1] ^= 0x80;
    for (int i = 0; i < KECCAK_RATE / 8; i++) {
        u64 lane = 0;
        for (int j = 7; j >= 0; j--) lane = (lane << 8) | block[8 * i + j];
        st[i] = lane;
    }
    keccakf(st);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) out[8 * i + j] = (unsigned char)(st[i] >> (8 * j));
}

/* s mod l for any 32-byte s (monero's sc_reduce32), constant-time: with
 * l = 2^252 + c, s = hi 2^252 + lo (hi < 16) is lo - hi c, plus l if that is
 * negative (it is above -2^129 > -l, and below 2^252 < l). */
static void sc_reduce32(unsigned char s[32])
{
    static const u64 c0 = 0x5812631a5cf5d3edULL, c1 = 0x14def9dea2f79cd6ULL;
    static const u64 l[4] = {0x5812631a5cf5d3edULL, 0x14def9dea2f79cd6ULL, 0, 0x1000000000000000ULL};
    u64 w[4];
    for (int i = 0; i < 4; i++) {
        u64 x = 0;
        for (int j = 7; j >= 0; j--) x = (x << 8) | s[8 * i + j];
        w[i] = x;
    }
    const u64 hi = w[3] >> 60;
    w[3] &= (((u64)1) << 60) - 1;
    const u128 t0 = M(hi, c0);
    const u128 t1 = M(hi, c1) + (u64)(t0 >> 64);
    const u64 m[4] = {(u64)t0, (u64)t1, (u64)(t1 >> 64), 0};
    u64 borrow = 0;
    for (int i = 0; i < 4; i++) {
        const u128 d = (u128)w[i] - m[i] - borrow;
        w[i] = (u64)d;
        borrow = (u64)(d >> 64) & 1;
    }
    const u64 mask = (u64)0 - borrow;
    u64 carry = 0;
    for (int i = 0; i < 4; i++) {
        const u128 sum = (u128)w[i] + (l[i] & mask) + carry;
        w[i] = (u64)sum;
        carry = (u64)(sum >> 64);
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) s[8 * i + j] = (unsigned char)(w[i] >> (8 * j));
}

/* An affine point ready for a mixed addition: y + x, y - x, 2dxy. */
typedef struct { fe yplusx, yminusx, xy2d; } ge_precomp;

/* The comb of G: BASE_TABLE[i][j] = (j + 1) 256^i G, built once at import. */
static ge_precomp BASE_TABLE[32][8];

static const unsigned char G_ENCODED[32] = {
    0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66};

/* The cached comb of G (projective), normalised to Z = 1 with one inversion. */
static int build_base_table(void)
{
    ge_p3 g;
    ge_cached(*cached)[8] = PyMem_RawMalloc(32 * sizeof(ge_cached[8]));
    fe *z = PyMem_RawMalloc(256 * sizeof(fe)), *scratch = PyMem_RawMalloc(256 * sizeof(fe));
    const int ok = cached && z && scratch && ge_frombytes(&g, G_ENCODED);
    if (ok) {
        comb_table(cached, &g);
        for (int k = 0; k < 256; k++) z[k] = cached[k / 8][k % 8].Z;
        fe_batch_invert(z, scratch, 256);
        for (int k = 0; k < 256; k++) {
            const ge_cached *c = &cached[k / 8][k % 8];
            ge_precomp *out = &BASE_TABLE[k / 8][k % 8];
            fe_mul(&out->yplusx, &c->YplusX, &z[k]);
            fe_mul(&out->yminusx, &c->YminusX, &z[k]);
            fe_mul(&out->xy2d, &c->T2d, &z[k]);
        }
    }
    PyMem_RawFree(cached);
    PyMem_RawFree(z);
    PyMem_RawFree(scratch);
    return ok;
}

/* r = p + q for an affine q (ge_add without q's Z). */
static inline void ge_madd(ge_p1p1 *r, const ge_p3 *p, const ge_precomp *q)
{
    fe t0;
    fe_add(&r->X, &p->Y, &p->X);
    fe_sub(&r->Y, &p->Y, &p->X);
    fe_mul(&r->Z, &r->X, &q->yplusx);
    fe_mul(&r->Y, &r->Y, &q->yminusx);
    fe_mul(&r->T, &q->xy2d, &p->T);
    fe_add(&t0, &p->Z, &p->Z);
    fe_sub(&r->X, &r->Z, &r->Y);
    fe_add(&r->Y, &r->Z, &r->Y);
    fe_add(&r->Z, &t0, &r->T);
    fe_sub(&r->T, &t0, &r->T);
}

/* t = digit * (the point whose multiples 1..8 are in row), digit in -8..8,
 * reading every entry of the row whatever the digit. */
static inline void select_precomp(ge_precomp *t, const ge_precomp row[8], signed char digit)
{
    const unsigned char negative = (unsigned char)(((unsigned)(int)digit) >> 31) & 1;
    const unsigned char magnitude = (unsigned char)(digit - ((-negative) & (digit << 1)));
    fe_1(&t->yplusx);
    fe_1(&t->yminusx);
    fe_0(&t->xy2d);
    for (int j = 0; j < 8; j++) {
        const u64 take = equal_u8(magnitude, (unsigned char)(j + 1));
        fe_cmov(&t->yplusx, &row[j].yplusx, take);
        fe_cmov(&t->yminusx, &row[j].yminusx, take);
        fe_cmov(&t->xy2d, &row[j].xy2d, take);
    }
    fe swapped_plus = t->yminusx, swapped_minus = t->yplusx, negated;
    fe_neg(&negated, &t->xy2d);
    fe_cmov(&t->yplusx, &swapped_plus, negative);
    fe_cmov(&t->yminusx, &swapped_minus, negative);
    fe_cmov(&t->xy2d, &negated, negative);
}

static inline void ge_madd_to(ge_p3 *h, const ge_precomp *q)
{
    ge_p1p1 t;
    ge_madd(&t, h, q);
    ge_p1p1_to_p3(h, &t);
}

/* h = s G for a reduced scalar s (the comb, as comb_mul does for a key). */
static void base_mul(ge_p3 *h, const unsigned char s[32])
{
    signed char e[64];
    ge_precomp t;
    scalar_digits(e, s);
    ge_p3_0(h);
    for (int i = 1; i < 64; i += 2) {
        select_precomp(&t, BASE_TABLE[i / 2], e[i]);
        ge_madd_to(h, &t);
    }
    ge_p3_mul16(h, h);
    for (int i = 0; i < 64; i += 2) {
        select_precomp(&t, BASE_TABLE[i / 2], e[i]);
        ge_madd_to(h, &t);
    }
}

/* An output key as monero decodes it, ready to add; ok = 0 where monero
 * refuses it (then nothing derives it). */
typedef struct { ge_cached point; u64 ok; } prepared_output;

/* Hs(D || varint(i)): keccak, then mod l. */
static void derivation_scalar(unsigned char s[32], const unsigned char *derivation, u64 index)
{
    unsigned char message[32 + 10];
    size_t len = 32;
    memcpy(message, derivation, 32);
    while (index >= 0x80) {
        message[len++] = (unsigned char)((index & 0x7f) | 0x80);
        index >>= 7;
    }
    message[len++] = (unsigned char)index;
    keccak256_short(s, message, len);
    sc_reduce32(s);
}

/* Not the encoding of any point (y >= p): what a job whose output key
 * monero refuses gets, so that it equals no canonical spend key. */
#define REFUSED_BYTE 0xff

#if HAVE_IFMA
/* The same on 8 jobs at once (lanes): each lane its own scalar and output
 * key, the comb of G read with per-lane masks over every entry. */
typedef struct { fe8 X, Y, Z, T; } ge8_p3;
typedef struct { fe8 X, Y, Z, T; } ge8_p1p1;
typedef struct { fe8 yplusx, yminusx, xy2d; } ge8_precomp;
typedef struct { fe8 YplusX, YminusX, Z, T2d; } ge8_cached;

IFMA static inline void fe8_set_small(fe8 *h, u64 n)
{
    h->v[0] = _mm512_set1_epi64((long long)n);
    for (int i = 1; i < 5; i++) h->v[i] = _mm512_setzero_si512();
}

IFMA static inline void fe8_blend(fe8 *h, __mmask8 take, const fe8 *g)
{
    for (int i = 0; i < 5; i++) h->v[i] = _mm512_mask_blend_epi64(take, h->v[i], g->v[i]);
}

IFMA static inline void ge8_p1p1_to_p3(ge8_p3 *r, const ge8_p1p1 *p)
{
    fe8_mul(&r->X, &p->X, &p->T);
    fe8_mul(&r->Y, &p->Y, &p->Z);
    fe8_mul(&r->Z, &p->Z, &p->T);
    fe8_mul(&r->T, &p->X, &p->Y);
}

/* r = 2p (ge_p2_dbl; T of p unused). */
IFMA static inline void ge8_dbl(ge8_p1p1 *r, const ge8_p3 *p)
{
    fe8 t0;
    fe8_sq(&r->X, &p->X);
    fe8_sq(&r->Z, &p->Y);
    fe8_sq(&r->T, &p->Z);
    fe8_add(&r->T, &r->T, &r->T);
    fe8_add(&r->Y, &p->X, &p->Y);
    fe8_sq(&t0, &r->Y);
    fe8_add(&r->Y, &r->Z, &r->X);
    fe8_sub(&r->Z, &r->Z, &r->X);
    fe8_sub(&r->X, &t0, &r->Y);
    fe8_sub(&r->T, &r->T, &r->Z);
}

IFMA static inline void ge8_madd(ge8_p1p1 *r, const ge8_p3 *p, const ge8_precomp *q)
{
    fe8 t0;
    fe8_add(&r->X, &p->Y, &p->X);
    fe8_sub(&r->Y, &p->Y, &p->X);
    fe8_mul(&r->Z, &r->X, &q->yplusx);
    fe8_mul(&r->Y, &r->Y, &q->yminusx);
    fe8_mul(&r->T, &q->xy2d, &p->T);
    fe8_add(&t0, &p->Z, &p->Z);
    fe8_sub(&r->X, &r->Z, &r->Y);
    fe8_add(&r->Y, &r->Z, &r->Y);
    fe8_add(&r->Z, &t0, &r->T);
    fe8_sub(&r->T, &t0, &r->T);
}

IFMA static inline void ge8_add(ge8_p1p1 *r, const ge8_p3 *p, const ge8_cached *q)
{
    fe8 t0;
    fe8_add(&r->X, &p->Y, &p->X);
    fe8_sub(&r->Y, &p->Y, &p->X);
    fe8_mul(&r->Z, &r->X, &q->YplusX);
    fe8_mul(&r->Y, &r->Y, &q->YminusX);
    fe8_mul(&r->T, &q->T2d, &p->T);
    fe8_mul(&r->X, &p->Z, &q->Z);
    fe8_add(&t0, &r->X, &r->X);
    fe8_sub(&r->X, &r->Z, &r->Y);
    fe8_add(&r->Y, &r->Z, &r->Y);
    fe8_add(&r->Z, &t0, &r->T);
    fe8_sub(&r->T, &t0, &r->T);
}

/* Per lane, t = digit * (the point whose multiples 1..8 are in row), with
 * digits in -8..8 (one per lane); every entry is read for every lane. */
IFMA static inline void select8_precomp(ge8_precomp *t, const ge_precomp row[8], v8 digits)
{
    const v8 zero = _mm512_setzero_si512();
    const __mmask8 negative = _mm512_cmplt_epi64_mask(digits, zero);
    const v8 magnitude = _mm512_abs_epi64(digits);
    fe8_set_small(&t->yplusx, 1);
    fe8_set_small(&t->yminusx, 1);
    fe8_set_small(&t->xy2d, 0);
    for (int j = 0; j < 8; j++) {
        const __mmask8 take = _mm512_cmpeq_epi64_mask(magnitude, _mm512_set1_epi64(j + 1));
        for (int i = 0; i < 5; i++) {
            t->yplusx.v[i] = _mm512_mask_blend_epi64(
                take, t->yplusx.v[i], _mm512_set1_epi64((long long)row[j].yplusx.v[i]));
            t->yminusx.v[i] = _mm512_mask_blend_epi64(
                take, t->yminusx.v[i], _mm512_set1_epi64((long long)row[j].yminusx.v[i]));
            t->xy2d.v[i] = _mm512_mask_blend_epi64(
                take, t->xy2d.v[i], _mm512_set1_epi64((long long)row[j].xy2d.v[i]));
        }
    }
    fe8 plus = t->yplusx, negated, zero_fe;
    fe8_set_small(&zero_fe, 0);
    fe8_sub(&negated, &zero_fe, &t->xy2d);
    fe8_blend(&t->yplusx, negative, &t->yminusx);
    fe8_blend(&t->yminusx, negative, &plus);
    fe8_blend(&t->xy2d, negative, &negated);
}

IFMA static inline void ge8_madd_to(ge8_p3 *h, const ge8_precomp *q)
{
    ge8_p1p1 t;
    ge8_madd(&t, h, q);
    ge8_p1p1_to_p3(h, &t);
}

IFMA static inline void ge8_mul16(ge8_p3 *h)
{
    ge8_p1p1 t;
    for (int i = 0; i < 4; i++) {
        ge8_dbl(&t, h);
        ge8_p1p1_to_p3(h, &t);
    }
}

/* results[lane] = points[lane] - scalar_lane G for 8 lanes (base_mul's comb
 * per lane, then one addition of the prepared output key). */
IFMA static void subtract_base_mul8(ge_p3 results[8], const unsigned char scalars[8][32],
                                    const ge_cached points[8])
{
    signed char e[8][64];
    long long lanes[8];
    for (int lane = 0; lane < 8; lane++) scalar_digits(e[lane], scalars[lane]);
    ge8_p3 h;
    ge8_precomp t;
    fe8_set_small(&h.X, 0);
    fe8_set_small(&h.Y, 1);
    fe8_set_small(&h.Z, 1);
    fe8_set_small(&h.T, 0);
    for (int i = 1; i < 64; i += 2) {
        for (int lane = 0; lane < 8; lane++) lanes[lane] = e[lane][i];
        select8_precomp(&t, BASE_TABLE[i / 2], _mm512_loadu_si512((const void *)lanes));
        ge8_madd_to(&h, &t);
    }
    ge8_mul16(&h);
    for (int i = 0; i < 64; i += 2) {
        for (int lane = 0; lane < 8; lane++) lanes[lane] = e[lane][i];
        select8_precomp(&t, BASE_TABLE[i / 2], _mm512_loadu_si512((const void *)lanes));
        ge8_madd_to(&h, &t);
    }
    /* -h, then + P */
    fe8 zero_fe;
    fe8_set_small(&zero_fe, 0);
    fe8_sub(&h.X, &zero_fe, &h.X);
    fe8_sub(&h.T, &zero_fe, &h.T);
    ge8_cached q;
    fe f[8];
    for (int lane = 0; lane < 8; lane++) f[lane] = points[lane].YplusX;
    fe8_load(&q.YplusX, f);
    for (int lane = 0; lane < 8; lane++) f[lane] = points[lane].YminusX;
    fe8_load(&q.YminusX, f);
    for (int lane = 0; lane < 8; lane++) f[lane] = points[lane].Z;
    fe8_load(&q.Z, f);
    for (int lane = 0; lane < 8; lane++) f[lane] = points[lane].T2d;
    fe8_load(&q.T2d, f);
    ge8_p1p1 sum;
    ge8_add(&sum, &h, &q);
    ge8_p3 r;
    ge8_p1p1_to_p3(&r, &sum);
    fe x[8], y[8], z[8], tt[8];
    fe8_store(x, &r.X);
    fe8_store(y, &r.Y);
    fe8_store(z, &r.Z);
    fe8_store(tt, &r.T);
    for (int lane = 0; lane < 8; lane++) {
        results[lane].X = x[lane];
        results[lane].Y = y[lane];
        results[lane].Z = z[lane];
        results[lane].T = tt[lane];
    }
}
#endif

/* out[j * 32] = monero's derive_subaddress_public_key(P_j, D_j, i_j) =
 * P_j - Hs(D_j || i_j) G, where D_j is row `position` of the derivation
 * table's slot s_j; ENCODE_BATCH jobs share one inversion. */
static int subaddress_keys_all(unsigned char *out, const unsigned char *table, size_t n_accounts,
                               size_t position, const unsigned char *jobs, size_t n_jobs,
                               const unsigned char *prepared)
{
    ge_p3 *results = PyMem_RawMalloc(ENCODE_BATCH * sizeof(ge_p3));
    fe *scratch = PyMem_RawMalloc(ENCODE_BATCH * sizeof(fe));
    const int ok = results && scratch;
    if (ok) {
        for (size_t first = 0; first < n_jobs; first += ENCODE_BATCH) {
            const size_t count = first + ENCODE_BATCH < n_jobs ? ENCODE_BATCH : n_jobs - first;
            unsigned char scalars[ENCODE_BATCH][32];
            ge_cached points[ENCODE_BATCH];
            int usable[ENCODE_BATCH];
            for (size_t k = 0; k < count; k++) {
                const unsigned char *job = jobs + 8 * (first + k);
                const u64 slot = (u64)job[0] | (u64)job[1] << 8 | (u64)job[2] << 16 |
                                 (u64)job[3] << 24;
                const u64 index = (u64)job[4] | (u64)job[5] << 8 | (u64)job[6] << 16 |
                                  (u64)job[7] << 24;
                prepared_output output;
                memcpy(&output, prepared + (first + k) * sizeof output, sizeof output);
                usable[k] = output.ok != 0;
                if (usable[k]) {
                    points[k] = output.point;
                } else {
                    ge_cached_0(&points[k]); /* any point: the result is overwritten */
                }
                derivation_scalar(scalars[k], table + (slot * n_accounts + position) * 32, index);
            }
            size_t k = 0;
#if HAVE_IFMA
            if (use_vector_lanes) {
                for (; k + 8 <= count; k += 8)
                    subtract_base_mul8(&results[k], (const unsigned char(*)[32])&scalars[k],
                                       &points[k]);
            }
#endif
            for (; k < count; k++) {
                ge_p3 q;
                ge_p1p1 t;
                base_mul(&q, scalars[k]);
                fe_neg(&q.X, &q.X);
                fe_neg(&q.T, &q.T);
                ge_add(&t, &q, &points[k]);
                ge_p1p1_to_p3(&results[k], &t);
            }
            unsigned char *block_out = out + first * 32;
            batch_encode(block_out, 32, results, scratch, count);
            for (size_t q = 0; q < count; q++)
                if (!usable[q]) memset(block_out + 32 * q, REFUSED_BYTE, 32);
        }
    }
    PyMem_RawFree(results);
    PyMem_RawFree(scratch);
    return ok;
}

/* s < l, comparing from the most significant byte (s is not secret here:
 * a caller passing an unreduced view scalar has a bug). */
static int scalar_is_reduced(const unsigned char *s)
{
    for (int i = 31; i >= 0; i--) {
        const unsigned char limit = i == 0 ? (unsigned char)(L_MINUS_1[0] + 1) : L_MINUS_1[i];
        if (s[i] != limit) return s[i] < limit;
    }
    return 0;
}

static PyObject *derivations(PyObject *self, PyObject *args)
{
    Py_buffer keys, scalars;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*:derivations", &keys, &scalars)) return NULL;
    PyObject *result = NULL;
    if (keys.len % 32 != 0 || scalars.len % 32 != 0) {
        PyErr_SetString(PyExc_ValueError, "keys and scalars must be 32-byte values");
        goto done;
    }
    const size_t n_keys = (size_t)keys.len / 32, n_scalars = (size_t)scalars.len / 32;
    for (size_t j = 0; j < n_scalars; j++) {
        if (!scalar_is_reduced((const unsigned char *)scalars.buf + 32 * j)) {
            PyErr_SetString(PyExc_ValueError, "scalars must be reduced (below l)");
            goto done;
        }
    }
    if (n_scalars != 0 && n_keys > (size_t)PY_SSIZE_T_MAX / 32 / n_scalars) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n_keys * n_scalars * 32));
    if (result == NULL || n_keys == 0 || n_scalars == 0) goto done;
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = derive_all((unsigned char *)PyBytes_AS_STRING(result), keys.buf, n_keys, scalars.buf,
                    n_scalars);
    Py_END_ALLOW_THREADS
    if (!ok) {
        Py_CLEAR(result);
        PyErr_NoMemory();
    }
done:
    PyBuffer_Release(&keys);
    PyBuffer_Release(&scalars);
    return result;
}

static PyObject *prepare_outputs(PyObject *self, PyObject *args)
{
    Py_buffer keys;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*:prepare_outputs", &keys)) return NULL;
    PyObject *result = NULL;
    if (keys.len % 32 != 0) {
        PyErr_SetString(PyExc_ValueError, "output keys must be 32-byte values");
        goto done;
    }
    const size_t n = (size_t)keys.len / 32;
    if (n > (size_t)PY_SSIZE_T_MAX / sizeof(prepared_output)) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * sizeof(prepared_output)));
    if (result == NULL) goto done;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    Py_BEGIN_ALLOW_THREADS
    for (size_t k = 0; k < n; k++) {
        prepared_output output;
        ge_p3 p;
        memset(&output, 0, sizeof output);
        output.ok = (u64)ge_frombytes(&p, (const unsigned char *)keys.buf + 32 * k);
        if (output.ok) ge_p3_to_cached(&output.point, &p);
        memcpy(out + k * sizeof output, &output, sizeof output);
    }
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&keys);
    return result;
}

static PyObject *subaddress_keys(PyObject *self, PyObject *args)
{
    Py_buffer table, jobs, prepared;
    Py_ssize_t n_accounts, position;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nny*y*:subaddress_keys", &table, &n_accounts, &position,
                          &jobs, &prepared))
        return NULL;
    PyObject *result = NULL;
    const size_t n_jobs = (size_t)jobs.len / 8;
    if (n_accounts <= 0 || position < 0 || position >= n_accounts || table.len % 32 != 0 ||
        (size_t)table.len / 32 % (size_t)n_accounts != 0 || jobs.len % 8 != 0 ||
        (size_t)prepared.len != n_jobs * sizeof(prepared_output)) {
        PyErr_SetString(PyExc_ValueError, "inconsistent table, jobs or prepared outputs");
        goto done;
    }
    const size_t n_slots = (size_t)table.len / 32 / (size_t)n_accounts;
    for (size_t j = 0; j < n_jobs; j++) {
        const unsigned char *job = (const unsigned char *)jobs.buf + 8 * j;
        const size_t slot = (size_t)job[0] | (size_t)job[1] << 8 | (size_t)job[2] << 16 |
                            (size_t)job[3] << 24;
        if (slot >= n_slots) {
            PyErr_SetString(PyExc_ValueError, "a job names a slot outside the table");
            goto done;
        }
    }
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n_jobs * 32));
    if (result == NULL || n_jobs == 0) goto done;
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = subaddress_keys_all((unsigned char *)PyBytes_AS_STRING(result), table.buf,
                             (size_t)n_accounts, (size_t)position, jobs.buf, n_jobs,
                             prepared.buf);
    Py_END_ALLOW_THREADS
    if (!ok) {
        Py_CLEAR(result);
        PyErr_NoMemory();
    }
done:
    PyBuffer_Release(&table);
    PyBuffer_Release(&jobs);
    PyBuffer_Release(&prepared);
    return result;
}

static PyObject *set_vector_lanes(PyObject *self, PyObject *args)
{
    int enable;
    (void)self;
    if (!PyArg_ParseTuple(args, "p:set_vector_lanes", &enable)) return NULL;
    use_vector_lanes = enable && vector_lanes_available();
    return PyBool_FromLong(use_vector_lanes);
}

static PyObject *vector_lanes(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    return PyBool_FromLong(use_vector_lanes);
}

static PyMethodDef methods[] = {
    {"derivations", derivations, METH_VARARGS,
     "derivations(keys, scalars) -> bytes: monero's 8 * (a * R) for every 32-byte key R\n"
     "(key-major) and 32-byte scalar a below 2**255; the identity where monero\n"
     "does not decode R."},
    {"vector_lanes", vector_lanes, METH_NOARGS,
     "vector_lanes() -> bool: whether ladders run 8 keys at a time (AVX-512 IFMA)."},
    {"set_vector_lanes", set_vector_lanes, METH_VARARGS,
     "set_vector_lanes(enable) -> bool: run ladders 8 at a time where the CPU can\n"
     "(enable) or one by one; returns whether they now run 8 at a time."},
    {"prepare_outputs", prepare_outputs, METH_VARARGS,
     "prepare_outputs(keys) -> bytes: 32-byte output keys decoded as monero does, in an\n"
     "opaque form for subaddress_keys (one entry per key)."},
    {"subaddress_keys", subaddress_keys, METH_VARARGS,
     "subaddress_keys(table, n_accounts, position, jobs, prepared) -> bytes: per job\n"
     "(u32 slot, u32 output index, little-endian) monero's P - Hs(D || i) G, with D the\n"
     "table's derivation of (slot, position) (the layout derivations() returns) and P\n"
     "the job's entry of prepared; 32 bytes of 0xff where monero refuses P."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_derivations",
    "monero key derivations for many keys and scalars at once (C).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__derivations(void)
{
    use_vector_lanes = vector_lanes_available();
    if (!build_base_table()) {
        PyErr_SetString(PyExc_RuntimeError, "could not build the comb table of G");
        return NULL;
    }
    return PyModule_Create(&module);
}
