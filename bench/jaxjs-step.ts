/**
 * The comparison step in jax-js (`@jax-js/jax`, wasm backend; a devDependency used only here): one
 * minGRU layer (128 → 2·128 projection, no bias, real-space scan) + Linear(128 → 128), MSE, backward
 * and Adam, the same math as Recur's row. jax-js has no scan primitive: the recurrence is an
 * odd-even parallel scan built from its reshapes and slices (log₂ T levels), and Adam is written
 * with its array ops. The whole update is one jit-compiled function.
 */
import { init, defaultDevice, jit, numpy as np, nn, valueAndGrad, random, type Array as JArray } from '@jax-js/jax';

type Params = { w: JArray; hw: JArray; hb: JArray };

/** g(x) = x + ½ for x ≥ 0, σ(x) below (consumes x). */
function g(x: JArray): JArray {
  return np.where(np.greaterEqual(x.ref, 0), x.ref.add(0.5), nn.sigmoid(x));
}

/** h_t = a_t h_{t−1} + b_t along axis 1 (T a power of two), odd-even recursion; consumes a and b. */
function scan(a: JArray, b: JArray): JArray {
  const [B, T, D] = a.shape as [number, number, number];
  if (T === 1) { a.dispose(); return b; }
  const h = T / 2;
  const a4 = a.reshape([B, h, 2, D]), b4 = b.reshape([B, h, 2, D]);
  const ae = a4.ref.slice([], [], 0), ao = a4.slice([], [], 1);
  const be = b4.ref.slice([], [], 0), bo = b4.slice([], [], 1);
  const hOdd = scan(ao.ref.mul(ae.ref), ao.mul(be.ref).add(bo));
  const prev = h === 1 ? np.zerosLike(hOdd.ref) : np.pad(hOdd.ref.slice([], [0, h - 1], []), [[0, 0], [1, 0], [0, 0]]);
  const hEven = ae.mul(prev).add(be);
  return np.stack([hEven, hOdd], 2).reshape([B, T, D]);
}

function loss(p: Params, x: JArray, y: JArray): JArray {
  const [B, T, D] = x.shape as [number, number, number];
  const proj = np.matmul(x.reshape([B * T, D]), p.w).reshape([B, T, 2 * D]);
  const hidden = proj.ref.slice([], [], [0, D]), k = proj.slice([], [], [D, 2 * D]);
  const a = nn.sigmoid(k.ref.neg());
  const bb = nn.sigmoid(k).mul(g(hidden));
  const hs = scan(a, bb);
  const out = np.matmul(hs.reshape([B * T, D]), p.hw).add(p.hb);
  return np.square(out.sub(y.reshape([B * T, D]))).mean();
}

export interface JaxStep { step(): Promise<number>; dispose(): void; device: string }

export async function jaxMinGruStep(B: number, T: number, D: number): Promise<JaxStep> {
  await init('wasm');
  defaultDevice('wasm');
  const key = random.key(1);
  const [k1, k2, k3, k4] = random.split(key, 4) as unknown as JArray[];
  const s = 1 / Math.sqrt(D);
  let params: Params = {
    w: random.uniform(k1!, [D, 2 * D], { minval: -s, maxval: s }),
    hw: random.uniform(k2!, [D, D], { minval: -s, maxval: s }),
    hb: np.zeros([D]),
  };
  const x = random.normal(k3!, [B, T, D]), y = random.normal(k4!, [B, T, D]);
  let m: Params = { w: np.zerosLike(params.w.ref), hw: np.zerosLike(params.hw.ref), hb: np.zerosLike(params.hb.ref) };
  let v: Params = { w: np.zerosLike(params.w.ref), hw: np.zerosLike(params.hw.ref), hb: np.zerosLike(params.hb.ref) };
  const lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  let t = 0;
  const update = jit((p: Params, mm: Params, vv: Params, xs: JArray, ys: JArray, c1: JArray, c2: JArray) => {
    const [value, grads] = valueAndGrad(loss)({ w: p.w.ref, hw: p.hw.ref, hb: p.hb.ref }, xs, ys);
    const np_: Params = {} as Params, nm: Params = {} as Params, nv: Params = {} as Params;
    for (const name of ['w', 'hw', 'hb'] as const) {
      const gr = grads[name];
      const mi = mm[name].mul(b1).add(gr.ref.mul(1 - b1));
      const vi = vv[name].mul(b2).add(gr.ref.mul(gr).mul(1 - b2));
      const step = mi.ref.div(c1.ref).mul(lr).div(np.sqrt(vi.ref.div(c2.ref)).add(eps));
      np_[name] = p[name].sub(step);
      nm[name] = mi;
      nv[name] = vi;
    }
    c1.dispose(); c2.dispose();
    return { value, p: np_, m: nm, v: nv };
  });
  return {
    device: 'wasm',
    async step(): Promise<number> {
      t++;
      const r = update(params, m, v, x.ref, y.ref, np.array(1 - b1 ** t), np.array(1 - b2 ** t)) as unknown as { value: JArray; p: Params; m: Params; v: Params };
      params = r.p; m = r.m; v = r.v;
      return (await r.value.data())[0]!;
    },
    dispose(): void {
      for (const tree of [params, m, v]) for (const a of Object.values(tree)) a.dispose();
      x.dispose(); y.dispose();
      update.dispose();
    },
  };
}
