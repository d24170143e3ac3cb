// Tiled scaled dot-product attention with online softmax (flash-attention style), SIMT, float32/float64.
//
// Compiled by kernels/cuda/attention.py with NVRTC (cupy.RawModule), specialised per configuration:
//   -DSCALAR=float|double  element type          -DHD=<D>  -DHDV=<Dv>  head dimensions of q/k and v
//   -DBQ=<16|32|64>        query rows per block  -DBK=<16|32|64>        keys per tile
// (the defaults below let `nvcc -c attention.cu` compile-check one configuration).
//
// Forward, per (g, query block Q_b), over key tiles K_c, V_c (no Lq x Lk matrix kept):
//   S     = scale Q_b K_c^T + bias + additive mask, -inf where the bool mask / causal forbids
//   m'    = max(m, rowmax S) ;  alpha = exp(m - m') ;  l = alpha l + rowsum exp(S - m')
//   O_acc = alpha O_acc + (exp(S - m') * M) V_c          M = dropout keep mask (1 without dropout)
//   O     = O_acc / l ;  the row max m and sum l are kept: the backward recomputes P from them
// Rows that end with m = -inf are fully masked: marked in `dead` with the caller's code; the caller
// relaunches the forward in mode 1 ("unmasked": the same rows without attn_mask and causal) or
// mode 2 ("uniform": every score 0, so P = 1/Lk over all keys) for those rows only.
//
// Backward (two kernels, no atomics, deterministic), P recomputed tile by tile from the row statistics:
//   P     = exp(S - m) / l ;  P~ = P * M ;  dP = (dO V^T) * M ;  dS = P (dP - delta),  delta_i = dO_i . O_i
//   attn_bwd_dkdv (one block per key tile):   dV += P~^T dO ;  dK += scale dS^T Q
//   attn_bwd_dq   (one block per query tile): dQ += scale dS K ;  dbias_full = dS
// (m and l, not lse = m + log l: with HF's finfo.min masks m is about -1.8e308 and log l would be lost
// in its rounding, turning a uniform row 1/l into P = 1.)
// Row states (from the forward): 0 live, 1 dead "zeros" (P = 0), 2 dead "uniform" (P = 1/Lk, dS = 0),
// 3 dead "unmasked" (P recomputed without attn_mask and causal).
//
// Threads: NT = 256 as a 16 x 16 grid (ty, tx). A tile product C (M x N) gives thread (ty, tx) the
// elements (ty + 16 a, tx + 16 b): strided so that the 16 threads of a half-warp read 16 different
// rows of one operand (row pitch odd: no bank conflicts) and one broadcast value of the other.
// Tiles with a head dimension are stored WD = 16*ceil(HD/16) + 1 wide, the padding columns zero.

#ifndef SCALAR
#define SCALAR float
#endif
#ifndef HD
#define HD 64
#endif
#ifndef HDV
#define HDV 64
#endif
#ifndef BQ
#define BQ 64
#endif
#ifndef BK
#define BK 64
#endif

typedef SCALAR T;
typedef long long ll;

#define NT 256
#define CD ((HD + 15) / 16)            // head-dim columns per thread
#define CV ((HDV + 15) / 16)
#define WD (16 * CD + 1)               // smem row pitch of a (rows x HD) tile
#define WV (16 * CV + 1)
#define WS (BK + 1)                    // smem row pitch of a (BQ x BK) score tile
#define RQ (BQ / 16)                   // query rows per thread
#define RK (BK / 16)                   // key rows/columns per thread
#define TPR (NT / BQ)                  // threads per query row in the softmax stage

static_assert(BQ % 16 == 0 && BK % 16 == 0 && BQ <= NT && (TPR & (TPR - 1)) == 0 && TPR <= 32,
              "BQ, BK must be 16, 32 or 64");

__device__ __forceinline__ float neg_inf(float) { return __int_as_float(0xff800000); }
__device__ __forceinline__ double neg_inf(double) { return __longlong_as_double(0xfff0000000000000LL); }
__device__ __forceinline__ float exp_t(float x) { return expf(x); }
__device__ __forceinline__ double exp_t(double x) { return exp(x); }

#define NEG_INF_T neg_inf((T)0)
#define NEG_INF_D neg_inf(0.0)

// The mask/bias planes are broadcast views: element (g, i, j) with g = b * Hd + h sits at
// b*s0 + h*s1 + i*s2 + j*s3 (strides in elements, 0 on broadcast axes).
struct Plane {
    ll s0, s1, s2, s3;
    __device__ __forceinline__ ll at(ll b, ll h, ll i, ll j) const { return b * s0 + h * s1 + i * s2 + j * s3; }
};

#define FLAG_KEEP 1
#define FLAG_ADDM 2
#define FLAG_BIAS 4
#define FLAG_DROP 8

// One masked score from the raw product <q_i, k_j>; use_masks = false ignores attn_mask and causal.
// Same order of operations as the reference: (raw * scale + bias) + additive mask, then the -inf fill.
__device__ __forceinline__ T score_of(T raw, T sc, int flags, const bool* keep, Plane kp, const T* addm, Plane ap,
                                      const T* bias, Plane bp, ll b, ll h, ll i, ll j, int causal_on,
                                      ll causal_off, bool use_masks) {
    T x = raw * sc;
    if (flags & FLAG_BIAS) x += bias[bp.at(b, h, i, j)];
    if (use_masks) {
        if (causal_on && j > i + causal_off) return NEG_INF_T;
        if ((flags & FLAG_KEEP) && !keep[kp.at(b, h, i, j)]) return NEG_INF_T;
        if (flags & FLAG_ADDM) x += addm[ap.at(b, h, i, j)];
    }
    return x;
}

// Cooperative load of rows [r0, r0 + R) of a (L x ncols) row-major matrix into a tile of pitch `pitch`,
// zero-filling rows past L and the padding columns [ncols, pitch - 1).
template <int R, int NCOLS, int PITCH>
__device__ __forceinline__ void load_tile(T* dst, const T* src, ll r0, ll L) {
    const int width = PITCH - 1;
    for (int idx = threadIdx.x; idx < R * width; idx += NT) {
        int r = idx / width, c = idx % width;
        T val = (T)0;
        if (c < NCOLS && r0 + r < L) val = src[(r0 + r) * (ll)NCOLS + c];
        dst[r * PITCH + c] = val;
    }
}

// C[r][c] = sum_k A[r][k] B[c][k] for r < BQ, c < BK (A, B tiles of pitch P, inner length K) -> smem C.
template <int K, int P>
__device__ __forceinline__ void product_abt(T* C, const T* A, const T* B) {
    const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
    T acc[RQ][RK];
#pragma unroll
    for (int a = 0; a < RQ; ++a)
#pragma unroll
        for (int b = 0; b < RK; ++b) acc[a][b] = (T)0;
#pragma unroll 4
    for (int k = 0; k < K; ++k) {
        T av[RQ], bv[RK];
#pragma unroll
        for (int a = 0; a < RQ; ++a) av[a] = A[(ty + 16 * a) * P + k];
#pragma unroll
        for (int b = 0; b < RK; ++b) bv[b] = B[(tx + 16 * b) * P + k];
#pragma unroll
        for (int a = 0; a < RQ; ++a)
#pragma unroll
            for (int b = 0; b < RK; ++b) acc[a][b] = fma(av[a], bv[b], acc[a][b]);
    }
#pragma unroll
    for (int a = 0; a < RQ; ++a)
#pragma unroll
        for (int b = 0; b < RK; ++b) C[(ty + 16 * a) * WS + tx + 16 * b] = acc[a][b];
}

// ------------------------------------------------------------------------------------------------ forward
extern "C" __global__ void __launch_bounds__(NT)
attn_fwd(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
         const bool* __restrict__ keep, ll k0, ll k1, ll k2, ll k3,
         const T* __restrict__ addm, ll a0, ll a1, ll a2, ll a3,
         const T* __restrict__ bias, ll b0, ll b1, ll b2, ll b3,
         const T* __restrict__ drop, int flags,
         ll G, ll Hd, ll Lq, ll Lk, double scale, int causal_on, ll causal_off,
         int mode, int dead_code,
         T* __restrict__ out, double* __restrict__ mrow, double* __restrict__ lrow, signed char* __restrict__ dead) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    double* row_m = reinterpret_cast<double*>(smem_raw);              // running max     (BQ)
    double* row_l = row_m + BQ;                                        // running sum     (BQ)
    T* Qs = reinterpret_cast<T*>(row_l + BQ);                          // (BQ x WD)
    T* Ks = Qs + BQ * WD;                                              // (BK x WD)
    T* Vs = Ks + BK * WD;                                              // (BK x WV)
    T* Ss = Vs + BK * WV;                                              // (BQ x WS) scores, then P~
    T* row_alpha = Ss + BQ * WS;                                       // (BQ)
    __shared__ int row_active[BQ];

    const ll nqb = (Lq + BQ - 1) / BQ;
    const ll g = blockIdx.x / nqb;
    const ll i0 = (blockIdx.x % nqb) * BQ;
    if (g >= G) return;
    const ll bb = g / Hd, hh = g % Hd;
    const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
    const Plane kp{k0, k1, k2, k3}, ap{a0, a1, a2, a3}, bp{b0, b1, b2, b3};
    const T sc = (T)scale;

    // which rows this launch computes: all in mode 0, only rows flagged dead in the redo modes
    int any = 0;
    if (tid < BQ) {
        ll i = i0 + tid;
        int act = i < Lq && (mode == 0 || dead[g * Lq + i] != 0);
        row_active[tid] = act;
        row_m[tid] = NEG_INF_D;
        row_l[tid] = 0.0;
        any = act;
    }
    if (!__syncthreads_or(any)) return;

    load_tile<BQ, HD, WD>(Qs, q + g * Lq * HD, i0, Lq);

    T acc[RQ][CV];
#pragma unroll
    for (int a = 0; a < RQ; ++a)
#pragma unroll
        for (int c = 0; c < CV; ++c) acc[a][c] = (T)0;

    ll kend = Lk;
    if (mode == 0 && causal_on) {                         // later keys are hidden from every row here
        ll i_last = min(i0 + BQ, Lq) - 1;
        kend = min(Lk, max((ll)0, i_last + causal_off + 1));
    }
    const bool use_masks = mode == 0;
    const int r = tid / TPR, lane = tid % TPR;           // softmax stage: TPR threads per row
    const ll i_row = i0 + r;

    for (ll j0 = 0; j0 < kend; j0 += BK) {
        __syncthreads();                                  // previous tile fully consumed
        load_tile<BK, HD, WD>(Ks, k + g * Lk * HD, j0, Lk);
        load_tile<BK, HDV, WV>(Vs, v + g * Lk * HDV, j0, Lk);
        __syncthreads();
        product_abt<HD, WD>(Ss, Qs, Ks);                  // raw scores <q_i, k_j>
        __syncthreads();

        // online softmax for row r over this tile
        const bool act = row_active[r];
        T mx = NEG_INF_T;
        for (int c = lane; c < BK; c += TPR) {
            ll j = j0 + c;
            T x = NEG_INF_T;
            if (act && j < Lk) {
                x = mode == 2 ? (T)0
                              : score_of(Ss[r * WS + c], sc, flags, keep, kp, addm, ap, bias, bp, bb, hh, i_row, j,
                                         causal_on, causal_off, use_masks);
            }
            Ss[r * WS + c] = x;
            mx = max(mx, x);
        }
#pragma unroll
        for (int off = TPR / 2; off > 0; off >>= 1) mx = max(mx, __shfl_xor_sync(0xffffffffu, mx, off));
        const double m_old = row_m[r];
        const double m_new = max(m_old, (double)mx);
        double part = 0.0;
        T alpha = (T)1;
        if (m_new == NEG_INF_D) {                         // nothing visible in this row yet
            for (int c = lane; c < BK; c += TPR) Ss[r * WS + c] = (T)0;
        } else {
            alpha = (T)exp_t((T)(m_old - m_new));         // rescales what was summed under the old max
            const T mt = (T)m_new;
            for (int c = lane; c < BK; c += TPR) {
                ll j = j0 + c;
                T p = exp_t(Ss[r * WS + c] - mt);         // masked: exp(-inf) = 0
                part += (double)p;
                if ((flags & FLAG_DROP) && j < Lk && i_row < Lq) p *= drop[(g * Lq + i_row) * Lk + j];
                Ss[r * WS + c] = p;                       // P~ = P * M feeds the value product
            }
        }
#pragma unroll
        for (int off = TPR / 2; off > 0; off >>= 1) part += __shfl_xor_sync(0xffffffffu, part, off);
        __syncwarp();
        if (lane == 0) {
            row_alpha[r] = alpha;
            if (m_new != NEG_INF_D) {
                row_l[r] = row_l[r] * (double)alpha + part;
                row_m[r] = m_new;
            }
        }
        __syncthreads();

        // O_acc = alpha O_acc + P~ V_c
#pragma unroll
        for (int a = 0; a < RQ; ++a) {
            T al = row_alpha[ty + 16 * a];
#pragma unroll
            for (int c = 0; c < CV; ++c) acc[a][c] *= al;
        }
#pragma unroll 4
        for (int kk = 0; kk < BK; ++kk) {
            T pv[RQ], vv[CV];
#pragma unroll
            for (int a = 0; a < RQ; ++a) pv[a] = Ss[(ty + 16 * a) * WS + kk];
#pragma unroll
            for (int c = 0; c < CV; ++c) vv[c] = Vs[kk * WV + tx + 16 * c];
#pragma unroll
            for (int a = 0; a < RQ; ++a)
#pragma unroll
                for (int c = 0; c < CV; ++c) acc[a][c] = fma(pv[a], vv[c], acc[a][c]);
        }
    }
    __syncthreads();

#pragma unroll
    for (int a = 0; a < RQ; ++a) {
        const int rr = ty + 16 * a;
        const ll i = i0 + rr;
        if (i >= Lq || !row_active[rr]) continue;
        const double m = row_m[rr];
        const T inv_l = m == NEG_INF_D ? (T)0 : (T)(1.0 / row_l[rr]);
#pragma unroll
        for (int c = 0; c < CV; ++c) {
            int col = tx + 16 * c;
            if (col < HDV) out[(g * Lq + i) * HDV + col] = m == NEG_INF_D ? (T)0 : acc[a][c] * inv_l;
        }
    }
    if (tid < BQ && row_active[tid]) {
        const ll i = i0 + tid;
        const double m = row_m[tid];
        mrow[g * Lq + i] = m;                             // -inf for a fully masked row
        lrow[g * Lq + i] = row_l[tid];
        if (mode == 0 && m == NEG_INF_D) dead[g * Lq + i] = (signed char)dead_code;
    }
}

// ------------------------------------------------------------------------------------------------ backward
// P~ and dS of one (BQ x BK) tile, in place: Ps holds raw scores on entry, dSs holds dO V^T.
__device__ __forceinline__ void grad_tile(T* Ps, T* dSs, const double* row_m, const double* row_l,
                                          const double* row_delta,
                                          const int* row_state, T sc, int flags, const bool* keep, Plane kp,
                                          const T* addm, Plane ap, const T* bias, Plane bp, const T* drop,
                                          ll g, ll bb, ll hh, ll i0, ll j0, ll Lq, ll Lk, int causal_on,
                                          ll causal_off, T inv_lk, T* dbias_full) {
    for (int idx = threadIdx.x; idx < BQ * BK; idx += NT) {
        const int r = idx / BK, c = idx % BK;
        const ll i = i0 + r, j = j0 + c;
        T p = (T)0, ds = (T)0, mk = (T)1;
        if (i < Lq && j < Lk) {
            const int state = row_state[r];
            if (flags & FLAG_DROP) mk = drop[(g * Lq + i) * Lk + j];
            if (state == 2) {
                p = inv_lk;                               // uniform row: constant in S, dS = 0
            } else if (state != 1) {
                T x = score_of(Ps[r * WS + c], sc, flags, keep, kp, addm, ap, bias, bp, bb, hh, i, j, causal_on,
                               causal_off, state == 0);
                p = x == NEG_INF_T ? (T)0 : exp_t((T)((double)x - row_m[r])) / (T)row_l[r];   // P from m, l
                T gp = dSs[r * WS + c] * mk;                                      // dP = dP~ * M
                ds = p * (gp - (T)row_delta[r]);                                  // dS = P (dP - delta)
            }
            if (dbias_full) dbias_full[(g * Lq + i) * Lk + j] = ds;
        }
        Ps[r * WS + c] = p * mk;                          // P~ for dV
        dSs[r * WS + c] = ds;
    }
}

// Load m, l, delta and state of query rows [i0, i0 + BQ); true when a row there ignores causal.
__device__ __forceinline__ bool load_rows(double* row_m, double* row_l, double* row_delta, int* row_state,
                                          const double* mrow, const double* lrow, const double* delta,
                                          const signed char* dead, ll g, ll i0, ll Lq) {
    int sees_all = 0;
    if (threadIdx.x < BQ) {
        ll i = i0 + threadIdx.x;
        int st = i < Lq ? (int)dead[g * Lq + i] : 1;
        row_state[threadIdx.x] = st;
        row_m[threadIdx.x] = i < Lq ? mrow[g * Lq + i] : 0.0;
        row_l[threadIdx.x] = i < Lq ? lrow[g * Lq + i] : 1.0;
        row_delta[threadIdx.x] = i < Lq ? delta[g * Lq + i] : 0.0;
        sees_all = st == 2 || st == 3;
    }
    return __syncthreads_or(sees_all) != 0;
}

extern "C" __global__ void __launch_bounds__(NT)
attn_bwd_dkdv(const T* __restrict__ dout, const T* __restrict__ q, const T* __restrict__ k,
              const T* __restrict__ v,
              const bool* __restrict__ keep, ll k0, ll k1, ll k2, ll k3,
              const T* __restrict__ addm, ll a0, ll a1, ll a2, ll a3,
              const T* __restrict__ bias, ll b0, ll b1, ll b2, ll b3,
              const T* __restrict__ drop, int flags,
              ll G, ll Hd, ll Lq, ll Lk, double scale, int causal_on, ll causal_off, double inv_lk,
              const double* __restrict__ mrow, const double* __restrict__ lrow, const double* __restrict__ delta,
              const signed char* __restrict__ dead,
              T* __restrict__ dk, T* __restrict__ dv) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    double* row_m = reinterpret_cast<double*>(smem_raw);
    double* row_l = row_m + BQ;
    double* row_delta = row_l + BQ;
    T* Ks = reinterpret_cast<T*>(row_delta + BQ);                     // (BK x WD)
    T* Vs = Ks + BK * WD;                                              // (BK x WV)
    T* Qs = Vs + BK * WV;                                              // (BQ x WD)
    T* dOs = Qs + BQ * WD;                                             // (BQ x WV)
    T* Ps = dOs + BQ * WV;                                             // (BQ x WS)
    T* dSs = Ps + BQ * WS;                                             // (BQ x WS)
    __shared__ int row_state[BQ];

    const ll nkb = (Lk + BK - 1) / BK;
    const ll g = blockIdx.x / nkb;
    const ll j0 = (blockIdx.x % nkb) * BK;
    if (g >= G) return;
    const ll bb = g / Hd, hh = g % Hd;
    const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
    const Plane kp{k0, k1, k2, k3}, ap{a0, a1, a2, a3}, bp{b0, b1, b2, b3};
    const T sc = (T)scale;

    load_tile<BK, HD, WD>(Ks, k + g * Lk * HD, j0, Lk);
    load_tile<BK, HDV, WV>(Vs, v + g * Lk * HDV, j0, Lk);

    T dk_acc[RK][CD], dv_acc[RK][CV];
#pragma unroll
    for (int a = 0; a < RK; ++a) {
#pragma unroll
        for (int c = 0; c < CD; ++c) dk_acc[a][c] = (T)0;
#pragma unroll
        for (int c = 0; c < CV; ++c) dv_acc[a][c] = (T)0;
    }

    for (ll i0 = 0; i0 < Lq; i0 += BQ) {
        __syncthreads();                                  // previous tiles fully consumed
        const bool sees_all = load_rows(row_m, row_l, row_delta, row_state, mrow, lrow, delta, dead, g, i0, Lq);
        if (causal_on && !sees_all && j0 > min(i0 + BQ, Lq) - 1 + causal_off) continue;  // tile all hidden
        load_tile<BQ, HD, WD>(Qs, q + g * Lq * HD, i0, Lq);
        load_tile<BQ, HDV, WV>(dOs, dout + g * Lq * HDV, i0, Lq);
        __syncthreads();
        product_abt<HD, WD>(Ps, Qs, Ks);                  // raw scores
        product_abt<HDV, WV>(dSs, dOs, Vs);               // dP~ = dO V^T
        __syncthreads();
        grad_tile(Ps, dSs, row_m, row_l, row_delta, row_state, sc, flags, keep, kp, addm, ap, bias, bp, drop, g, bb, hh,
                  i0, j0, Lq, Lk, causal_on, causal_off, (T)inv_lk, nullptr);
        __syncthreads();
        // dV_c += P~^T dO ;  dK_c += dS^T Q  (scaled at the end)
#pragma unroll 2
        for (int rr = 0; rr < BQ; ++rr) {
            T pk[RK], sk[RK];
#pragma unroll
            for (int a = 0; a < RK; ++a) {
                pk[a] = Ps[rr * WS + ty + 16 * a];
                sk[a] = dSs[rr * WS + ty + 16 * a];
            }
#pragma unroll
            for (int c = 0; c < CV; ++c) {
                T o = dOs[rr * WV + tx + 16 * c];
#pragma unroll
                for (int a = 0; a < RK; ++a) dv_acc[a][c] = fma(pk[a], o, dv_acc[a][c]);
            }
#pragma unroll
            for (int c = 0; c < CD; ++c) {
                T qv = Qs[rr * WD + tx + 16 * c];
#pragma unroll
                for (int a = 0; a < RK; ++a) dk_acc[a][c] = fma(sk[a], qv, dk_acc[a][c]);
            }
        }
    }

#pragma unroll
    for (int a = 0; a < RK; ++a) {
        const ll j = j0 + ty + 16 * a;
        if (j >= Lk) continue;
#pragma unroll
        for (int c = 0; c < CD; ++c) {
            int col = tx + 16 * c;
            if (col < HD) dk[(g * Lk + j) * HD + col] = dk_acc[a][c] * sc;
        }
#pragma unroll
        for (int c = 0; c < CV; ++c) {
            int col = tx + 16 * c;
            if (col < HDV) dv[(g * Lk + j) * HDV + col] = dv_acc[a][c];
        }
    }
}

extern "C" __global__ void __launch_bounds__(NT)
attn_bwd_dq(const T* __restrict__ dout, const T* __restrict__ q, const T* __restrict__ k,
            const T* __restrict__ v,
            const bool* __restrict__ keep, ll k0, ll k1, ll k2, ll k3,
            const T* __restrict__ addm, ll a0, ll a1, ll a2, ll a3,
            const T* __restrict__ bias, ll b0, ll b1, ll b2, ll b3,
            const T* __restrict__ drop, int flags,
            ll G, ll Hd, ll Lq, ll Lk, double scale, int causal_on, ll causal_off, double inv_lk,
            const double* __restrict__ mrow, const double* __restrict__ lrow, const double* __restrict__ delta,
            const signed char* __restrict__ dead,
            T* __restrict__ dq, T* __restrict__ dbias_full, int want_dbias) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    double* row_m = reinterpret_cast<double*>(smem_raw);
    double* row_l = row_m + BQ;
    double* row_delta = row_l + BQ;
    T* Qs = reinterpret_cast<T*>(row_delta + BQ);                     // (BQ x WD)
    T* dOs = Qs + BQ * WD;                                             // (BQ x WV)
    T* Ks = dOs + BQ * WV;                                             // (BK x WD)
    T* Vs = Ks + BK * WD;                                              // (BK x WV)
    T* Ps = Vs + BK * WV;                                              // (BQ x WS)
    T* dSs = Ps + BQ * WS;                                             // (BQ x WS)
    __shared__ int row_state[BQ];

    const ll nqb = (Lq + BQ - 1) / BQ;
    const ll g = blockIdx.x / nqb;
    const ll i0 = (blockIdx.x % nqb) * BQ;
    if (g >= G) return;
    const ll bb = g / Hd, hh = g % Hd;
    const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
    const Plane kp{k0, k1, k2, k3}, ap{a0, a1, a2, a3}, bp{b0, b1, b2, b3};
    const T sc = (T)scale;

    const bool sees_all = load_rows(row_m, row_l, row_delta, row_state, mrow, lrow, delta, dead, g, i0, Lq);
    load_tile<BQ, HD, WD>(Qs, q + g * Lq * HD, i0, Lq);
    load_tile<BQ, HDV, WV>(dOs, dout + g * Lq * HDV, i0, Lq);

    T dq_acc[RQ][CD];
#pragma unroll
    for (int a = 0; a < RQ; ++a)
#pragma unroll
        for (int c = 0; c < CD; ++c) dq_acc[a][c] = (T)0;

    ll kend = Lk;
    if (causal_on && !sees_all) kend = min(Lk, max((ll)0, min(i0 + BQ, Lq) - 1 + causal_off + 1));
    for (ll j0 = 0; j0 < kend; j0 += BK) {
        __syncthreads();
        load_tile<BK, HD, WD>(Ks, k + g * Lk * HD, j0, Lk);
        load_tile<BK, HDV, WV>(Vs, v + g * Lk * HDV, j0, Lk);
        __syncthreads();
        product_abt<HD, WD>(Ps, Qs, Ks);                  // raw scores
        product_abt<HDV, WV>(dSs, dOs, Vs);               // dP~ = dO V^T
        __syncthreads();
        grad_tile(Ps, dSs, row_m, row_l, row_delta, row_state, sc, flags, keep, kp, addm, ap, bias, bp, drop, g, bb, hh,
                  i0, j0, Lq, Lk, causal_on, causal_off, (T)inv_lk, want_dbias ? dbias_full : nullptr);
        __syncthreads();
        // dQ += dS K_c  (scaled at the end)
#pragma unroll 4
        for (int kk = 0; kk < BK; ++kk) {
            T sv[RQ];
#pragma unroll
            for (int a = 0; a < RQ; ++a) sv[a] = dSs[(ty + 16 * a) * WS + kk];
#pragma unroll
            for (int c = 0; c < CD; ++c) {
                T kv = Ks[kk * WD + tx + 16 * c];
#pragma unroll
                for (int a = 0; a < RQ; ++a) dq_acc[a][c] = fma(sv[a], kv, dq_acc[a][c]);
            }
        }
    }

#pragma unroll
    for (int a = 0; a < RQ; ++a) {
        const ll i = i0 + ty + 16 * a;
        if (i >= Lq) continue;
#pragma unroll
        for (int c = 0; c < CD; ++c) {
            int col = tx + 16 * c;
            if (col < HD) dq[(g * Lq + i) * HD + col] = dq_acc[a][c] * sc;
        }
    }
}
