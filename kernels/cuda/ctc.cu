// CTC loss and its gradient with respect to log_probs, one sample per CUDA block, in log space, float64.
//
// For sample b (L frames, target l of length S, extended l' = (blank, l_1, blank, ..., l_S, blank),
// 2S + 1 states, skip(s) = [s >= 2 and l'_s != blank and l'_s != l'_{s-2}]), with lp in float64:
//   alpha_0(s) = lp[0, l'_s] for s < 2 ;  alpha_t(s) = lp[t, l'_s] + lse(alpha_{t-1}(s), alpha_{t-1}(s-1),
//                                                                    skip(s) alpha_{t-1}(s-2))
//   log p = lse(alpha_{L-1}(2S), alpha_{L-1}(2S-1))   (alpha_{L-1}(0) when S = 0; 0 / -inf when L = 0)
//   beta_{L-1}(s) = 0 on s >= 2S - 1 ;  beta_t(s) = lse over s' in {s, s+1, [s+2 if skip(s+2)]} of
//                                                    lp[t+1, l'_s'] + beta_{t+1}(s')
//   d loss_b / d lp[t, c] = -sum_{s: l'_s = c} exp(alpha_t(s) + beta_t(s) - log p)     (t < L; 0 beyond)
// The states of one frame are spread over the block's threads, one barrier per frame. The class sums
// have a fixed order (increasing s, as the reference's np.add.at): thread 0 sums the blank states,
// and the thread of each label's first occurrence walks that label's later occurrences.
// Infeasible samples (log p = -inf) get NaN on frames t < L, or 0 with zero_infinity.
// Compiled by kernels/cuda/ctc.py with NVRTC (cupy.RawModule), -DSCALAR=float|double (input/output type).

#ifndef SCALAR
#define SCALAR float
#endif
typedef SCALAR T;
typedef long long ll;

#define NT 256

__device__ __forceinline__ double ninf() { return __longlong_as_double(0xfff0000000000000LL); }
__device__ __forceinline__ double qnan() { return __longlong_as_double(0x7ff8000000000000LL); }

// log(exp a + exp b + exp c) as the reference computes it: m + log(sum exp(x - m)), all -inf -> -inf
__device__ __forceinline__ double lse3(double a, double b, double c) {
    double m = fmax(a, fmax(b, c));
    if (m == ninf()) return ninf();
    return m + log(exp(a - m) + exp(b - m) + exp(c - m));
}

extern "C" __global__ void __launch_bounds__(NT)
ctc_lattice(const T* __restrict__ lp, ll Tn, ll B, ll C, const ll* __restrict__ targets, ll Smax,
            const ll* __restrict__ Ls, const ll* __restrict__ Ss, ll blank, ll Sx,
            double* __restrict__ alpha, double* __restrict__ beta, double* __restrict__ logp_out,
            int* __restrict__ next_same, const double* __restrict__ scale, int want_grad, int zero_infinity,
            T* __restrict__ grad) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    double* occ = reinterpret_cast<double*>(smem_raw);               // (Sx) occupations of one frame
    __shared__ double s_logp;
    const ll b = blockIdx.x;
    const int tid = threadIdx.x;
    const ll L = Ls[b], S = Ss[b], nS = 2 * S + 1;
    const ll* tg = targets + b * Smax;
    double* A = alpha + b * Tn * Sx;                                  // alpha of sample b: (Tn, Sx)
    double* Bt = beta + b * Tn * Sx;
    int* nxt = next_same + b * 2 * (Smax > 0 ? Smax : 1);          // (Smax) next occurrence, then (Smax) heads
    int* head = nxt + (Smax > 0 ? Smax : 1);
#define EXT(s) (((s) & 1) ? tg[((s) - 1) / 2] : blank)
#define SKIP(s) ((s) >= 2 && ((s) & 1) && tg[((s) - 1) / 2] != EXT((s) - 2))
#define LP(t, c) ((double)lp[((t) * B + b) * C + (c)])

    // alpha, frame by frame
    for (ll t = 0; t < L; ++t) {
        for (ll s = tid; s < nS; s += NT) {
            const double e = LP(t, EXT(s));
            double a;
            if (t == 0) {
                a = s < 2 ? e : ninf();
            } else {
                const double* P = A + (t - 1) * Sx;
                a = e + lse3(P[s], s >= 1 ? P[s - 1] : ninf(), SKIP(s) ? P[s - 2] : ninf());
            }
            A[t * Sx + s] = a;
        }
        __syncthreads();
    }
    if (tid == 0) {
        double lpv;
        if (L == 0) {
            lpv = S == 0 ? 0.0 : ninf();
        } else if (S == 0) {
            lpv = A[(L - 1) * Sx];
        } else {
            const double x = A[(L - 1) * Sx + 2 * S], y = A[(L - 1) * Sx + 2 * S - 1];
            const double m = fmax(x, y);
            lpv = m == ninf() ? ninf() : m + log(exp(x - m) + exp(y - m));
        }
        s_logp = lpv;
        logp_out[b] = lpv;
    }
    // next occurrence of the same label after target position k (-1 if none); head: k is the first one
    for (ll k = tid; k < S; k += NT) {
        int n = -1, first = 1;
        for (ll k2 = k + 1; k2 < S; ++k2) {
            if (tg[k2] == tg[k]) { n = (int)k2; break; }
        }
        for (ll k0 = 0; k0 < k; ++k0) {
            if (tg[k0] == tg[k]) { first = 0; break; }
        }
        nxt[k] = n;
        head[k] = first;
    }
    __syncthreads();
    if (!want_grad) return;

    const double logp = s_logp;
    const T fac = (T)scale[b];                                        // -grad_output_b * d reduced / d loss_b
    if (logp == ninf()) {                                             // infeasible: d(+inf)
        if (!zero_infinity) {
            for (ll idx = tid; idx < L * C; idx += NT) grad[((idx / C) * B + b) * C + idx % C] = (T)qnan();
        }
        return;
    }
    for (ll t = L - 1; t >= 0; --t) {
        for (ll s = tid; s < nS; s += NT) {
            double bt;
            if (t == L - 1) {
                bt = s >= 2 * S - 1 ? 0.0 : ninf();
            } else {
                const double* N = Bt + (t + 1) * Sx;
                const double n0 = LP(t + 1, EXT(s)) + N[s];
                const double n1 = s + 1 < nS ? LP(t + 1, EXT(s + 1)) + N[s + 1] : ninf();
                const double n2 = (s + 2 < nS && SKIP(s + 2)) ? LP(t + 1, EXT(s + 2)) + N[s + 2] : ninf();
                bt = lse3(n0, n1, n2);
            }
            Bt[t * Sx + s] = bt;
            occ[s] = exp(A[t * Sx + s] + bt - logp);                  // gamma_t(s)
        }
        __syncthreads();
        T* g = grad + (t * B + b) * C;
        if (tid == 0) {                                               // the blank states, s = 0, 2, ..., 2S
            double acc = 0.0;
            for (ll s = 0; s < nS; s += 2) acc += occ[s];
            g[blank] = (T)acc * fac;
        }
        for (ll k = tid; k < S; k += NT) {                            // label states s = 2k + 1
            if (!head[k]) continue;
            double acc = 0.0;
            for (ll kk = k; kk >= 0; kk = nxt[kk]) acc += occ[2 * kk + 1];
            g[tg[k]] = (T)acc * fac;
        }
        __syncthreads();                                              // occ is rewritten next frame
    }
#undef EXT
#undef SKIP
#undef LP
}
