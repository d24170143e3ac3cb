// Batched linear sum assignment by shortest augmenting paths (Crouse 2016; the Jonker-Volgenant family
// SciPy uses), one problem per CUDA block.
//
//   min over injective rows -> cols of sum_i C[i, col(i)],  C (n_rows, n_cols) with n_rows <= n_cols
//   (the host transposes taller problems and negates for maximize)
//
// Per problem: a greedy start gives each row its cheapest column when that column is still free
// (u_i = row minimum, v = 0: valid duals); each remaining row then runs a Dijkstra search over reduced
// costs C[r, j] - u[r] - v[j] >= 0 to the nearest free column, updates the duals
//   u_cur += d ;  u_i += d - dist(col of i) (rows on the tree) ;  v_j -= d - dist(j) (final columns)
// and flips the path. The block's threads share the column scans: the relaxation of every unfinished
// column and the argmin (lowest distance, then a free column, then the lowest index) are parallel;
// the path flip is done by thread 0. Workspaces live in global memory, one slice per problem.
// Compiled by kernels/cuda/matching.py with NVRTC (cupy.RawModule).

typedef long long ll;

#define NT 128

__device__ __forceinline__ double pos_inf() { return __longlong_as_double(0x7ff0000000000000LL); }

// (value, busy, index) ordered lexicographically: lower distance first, then a free column, then lower j
__device__ __forceinline__ bool better(double v1, int b1, ll j1, double v2, int b2, ll j2) {
    if (v1 != v2) return v1 < v2;
    if (b1 != b2) return b1 < b2;
    return j1 < j2;
}

extern "C" __global__ void __launch_bounds__(NT)
lsa_batch(const double* __restrict__ flat, const ll* __restrict__ offsets, const ll* __restrict__ n_rows,
          const ll* __restrict__ n_cols, const ll* __restrict__ row_off, const ll* __restrict__ col_off,
          double* __restrict__ u_all, double* __restrict__ v_all, double* __restrict__ shortest_all,
          ll* __restrict__ path_all, ll* __restrict__ row4col_all, unsigned char* __restrict__ col_seen_all,
          unsigned char* __restrict__ row_seen_all, ll* __restrict__ col4row_all, int* __restrict__ feasible) {
    __shared__ double red_v[NT / 32];
    __shared__ int red_b[NT / 32];
    __shared__ ll red_j[NT / 32];
    __shared__ ll s_i, s_sink;
    __shared__ double s_min;
    __shared__ int s_fail;

    const int b = blockIdx.x, tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const ll nr = n_rows[b], nc = n_cols[b];
    if (nr == 0) {
        if (tid == 0) feasible[b] = 1;
        return;
    }
    const double* cost = flat + offsets[b];
    double* u = u_all + row_off[b];
    double* v = v_all + col_off[b];
    double* shortest = shortest_all + col_off[b];
    ll* path = path_all + col_off[b];
    ll* row4col = row4col_all + col_off[b];
    unsigned char* col_seen = col_seen_all + col_off[b];
    unsigned char* row_seen = row_seen_all + row_off[b];
    ll* col4row = col4row_all + row_off[b];
    const double INF = pos_inf();

    // greedy start: row minima in parallel (first index of the minimum), assignment in row order
    for (ll j = tid; j < nc; j += NT) {
        v[j] = 0.0;
        row4col[j] = -1;
    }
    for (ll i = tid; i < nr; i += NT) {
        double best = INF;
        ll best_j = -1;
        for (ll j = 0; j < nc; ++j) {
            double c = cost[i * nc + j];
            if (c < best) { best = c; best_j = j; }
        }
        u[i] = best;
        path[i] = best_j;                                 // path (length nc >= nr) as scratch
        col4row[i] = -1;
    }
    __syncthreads();
    if (tid == 0) {
        s_fail = 0;
        for (ll i = 0; i < nr; ++i) {
            ll j = path[i];
            if (j < 0) { s_fail = 1; break; }             // the whole row is forbidden
            if (row4col[j] == -1) { row4col[j] = i; col4row[i] = j; }
        }
    }
    __syncthreads();
    if (s_fail) {
        if (tid == 0) feasible[b] = 0;
        return;
    }

    for (ll cur = 0; cur < nr; ++cur) {
        if (col4row[cur] >= 0) continue;                  // uniform across the block (read after a barrier)
        for (ll j = tid; j < nc; j += NT) { shortest[j] = INF; col_seen[j] = 0; }
        for (ll i = tid; i < nr; i += NT) row_seen[i] = 0;
        if (tid == 0) { s_i = cur; s_sink = -1; s_min = 0.0; }
        __syncthreads();
        while (true) {
            const ll i = s_i;
            const double min_val = s_min;
            if (tid == 0) row_seen[i] = 1;
            const double ui = u[i];
            double bv = INF; int bb = 1; ll bj = -1;
            for (ll j = tid; j < nc; j += NT) {
                if (col_seen[j]) continue;
                double reduced = min_val + cost[i * nc + j] - ui - v[j];   // path length to j through row i
                if (reduced < shortest[j]) { path[j] = i; shortest[j] = reduced; }
                int busy = row4col[j] != -1;
                if (bj < 0 || better(shortest[j], busy, j, bv, bb, bj)) { bv = shortest[j]; bb = busy; bj = j; }
            }
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) {
                double ov = __shfl_down_sync(0xffffffffu, bv, off);
                int ob = __shfl_down_sync(0xffffffffu, bb, off);
                ll oj = __shfl_down_sync(0xffffffffu, bj, off);
                if (oj >= 0 && (bj < 0 || better(ov, ob, oj, bv, bb, bj))) { bv = ov; bb = ob; bj = oj; }
            }
            if (lane == 0) { red_v[warp] = bv; red_b[warp] = bb; red_j[warp] = bj; }
            __syncthreads();
            if (tid == 0) {
                for (int w = 1; w < NT / 32; ++w) {
                    if (red_j[w] >= 0 && (bj < 0 || better(red_v[w], red_b[w], red_j[w], bv, bb, bj))) {
                        bv = red_v[w]; bb = red_b[w]; bj = red_j[w];
                    }
                }
                if (bj < 0 || bv == INF) {
                    s_fail = 1;                           // every remaining column is forbidden
                } else {
                    s_min = bv;
                    col_seen[bj] = 1;                     // bj's distance is final
                    if (row4col[bj] == -1) s_sink = bj;
                    else s_i = row4col[bj];               // continue from the row matched to bj
                }
            }
            __syncthreads();
            if (s_fail || s_sink >= 0) break;
        }
        if (s_fail) {
            if (tid == 0) feasible[b] = 0;
            return;
        }
        const double min_val = s_min;
        // duals: keep every reduced cost >= 0 and those on the new matching at 0
        for (ll i = tid; i < nr; i += NT) {
            if (i == cur) u[i] += min_val;
            else if (row_seen[i]) u[i] += min_val - shortest[col4row[i]];
        }
        for (ll j = tid; j < nc; j += NT) {
            if (col_seen[j]) v[j] -= min_val - shortest[j];
        }
        __syncthreads();
        if (tid == 0) {                                   // flip the augmenting path back to cur
            ll j = s_sink;
            while (true) {
                ll i = path[j];
                row4col[j] = i;
                ll nxt = col4row[i];
                col4row[i] = j;
                j = nxt;
                if (i == cur) break;
            }
        }
        __syncthreads();
    }
    if (tid == 0) feasible[b] = 1;
}
