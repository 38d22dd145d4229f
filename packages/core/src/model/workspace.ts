import type { KernelSet } from '../kernels/kernel-set.js';
import type { DenseTargets, SparseTargets } from '../kernels/losses.js';
import { processKernels } from '../kernels/select.js';
import type { LayerIO, PassContext } from '../layers/layer.js';
import type { ArenaView, BufferRequest } from '../memory/arena.js';
import { type HeapArena, heapArenaFor } from '../memory/process-heap.js';
import { sizeOf } from '../shape.js';
import type { Network } from './network.js';

export interface WorkspaceOptions {
  /** Most samples one pass holds (the micro-shard size when training). */
  readonly capacity: number;
  /** Keep what backward needs (gradients of activations, pooling winners, dropout masks). */
  readonly training: boolean;
  /** Gradient buffers, one per level of the reduction stack (0 for inference). */
  readonly gradSlots: number;
}

/**
 * Everything one thread needs to run forward and backward passes of a network over up to `capacity`
 * samples: activations, their gradients, layer scratch and gradient slots, all carved from one arena
 * up front so the training loop allocates nothing. Parameters are not owned: the workspace reads them
 * from a buffer it is given (shared by every thread of a host).
 */
export class Workspace {
  readonly network: Network;
  readonly options: WorkspaceOptions;
  /** The arithmetic of every pass (this thread's kernel set). */
  readonly kernels: KernelSet;
  /** Network input for `capacity` samples (NHWC rows). */
  readonly input: Float32Array;
  /** uint8 samples pass through here on their way to `input` (the fast kernels read only heap memory). */
  readonly inputBytes: Uint8Array;
  /** Network output (probabilities after a fused loss) for `capacity` samples. */
  readonly output: Float32Array;
  /** Gradient of the loss w.r.t. the output (null for inference). */
  readonly outputGrad: Float32Array | null;
  /** Class indices of the pass's samples (sparse targets). */
  readonly sparseTargets: Int32Array;
  /** Target rows of the pass's samples (dense targets). */
  readonly denseTargets: Float32Array;
  /** The two target buffers as the loss takes them, made once so a pass allocates nothing. */
  readonly sparseTargetSet: SparseTargets;
  readonly denseTargetSet: DenseTargets;
  /** Gradient slots, each a whole flat gradient buffer in the parameter layout. */
  get gradSlots(): readonly Float32Array[] {
    return this.#slots;
  }
  readonly #slots: Float32Array[];
  readonly #io: LayerIO[];
  readonly #slotViews: Float32Array[][][];
  readonly #viewCache = new WeakMap<Float32Array, Float32Array[][]>();
  readonly #ctx: PassContext;
  #arena: HeapArena | null = null;

  /** The buffers a workspace needs, for sizing an arena (bytesFor) before creating it. */
  static requests(network: Network, options: WorkspaceOptions, kernels: KernelSet = processKernels()): BufferRequest[] {
    const { capacity, training, gradSlots } = options;
    const req: BufferRequest[] = [];
    if (training) {
      req.push({ name: 'act0', kind: 'f32', length: capacity * network.inputSize });
      network.layers.forEach((layer, i) => {
        if (layer.aliasesInput) return;
        const size = capacity * sizeOf(layer.outputShape);
        req.push({ name: `act${i + 1}`, kind: 'f32', length: size });
        req.push({ name: `grad${i + 1}`, kind: 'f32', length: size });
      });
    } else {
      // Inference keeps no activation for later: two buffers serve all layers in turn.
      const largest = Math.max(network.inputSize, ...network.layers.map((l) => sizeOf(l.outputShape)));
      req.push({ name: 'pingpong0', kind: 'f32', length: capacity * largest }, { name: 'pingpong1', kind: 'f32', length: capacity * largest });
    }
    network.layers.forEach((layer, i) => {
      for (const r of layer.scratchRequests(capacity, training, kernels)) req.push({ ...r, name: `scratch${i}/${r.name}` });
    });
    req.push({ name: 'inputBytes', kind: 'u8', length: capacity * network.inputSize });
    req.push({ name: 'sparseTargets', kind: 'i32', length: capacity });
    req.push({ name: 'denseTargets', kind: 'f32', length: capacity * network.outputSize });
    for (let k = 0; k < gradSlots; k++) req.push({ name: `slot${k}`, kind: 'f32', length: network.paramCount });
    return req;
  }

  /** A workspace in a fresh region of the process heap, on this thread's kernels; release() frees it. */
  static create(network: Network, params: Float32Array, options: WorkspaceOptions, owner?: object): Workspace {
    const kernels = processKernels();
    const { arena, views } = heapArenaFor(Workspace.requests(network, options, kernels));
    // A workspace kept by a long-lived object (a model) goes back to the heap with it.
    if (owner) arena.releaseWith(owner);
    const ws = new Workspace(network, params, options, views, kernels);
    ws.#arena = arena;
    return ws;
  }

  /** A workspace over views already carved (by name) from an arena, e.g. a region a host gave a thread. */
  constructor(network: Network, params: Float32Array, options: WorkspaceOptions, views: Map<string, ArenaView>, kernels: KernelSet = processKernels()) {
    this.network = network;
    this.options = options;
    this.kernels = kernels;
    this.#ctx = { n: 0, training: false, seed: 0, step: 0, firstSample: 0, layerIndex: 0, skipActivation: false, kernels };
    const f32 = (name: string) => views.get(name) as Float32Array;
    const layers = network.layers;
    const acts: Float32Array[] = [];
    const grads: (Float32Array | null)[] = [null];
    if (options.training) {
      acts.push(f32('act0'));
      layers.forEach((layer, i) => {
        acts.push(layer.aliasesInput ? acts[i] : f32(`act${i + 1}`));
        grads.push(layer.aliasesInput ? grads[i] : f32(`grad${i + 1}`));
      });
    } else {
      const pingpong = [f32('pingpong0'), f32('pingpong1')];
      let current = 0;
      acts.push(pingpong[0]);
      layers.forEach((layer) => {
        if (!layer.aliasesInput && !layer.worksInPlace) current ^= 1;
        acts.push(pingpong[current]);
        grads.push(null);
      });
    }
    // The input gradient of a layer is the output gradient of the one before (aliases included).
    const paramViews = network.views(params);
    this.#io = layers.map((layer, i) => {
      const scratch = new Map<string, ArenaView>();
      for (const r of layer.scratchRequests(options.capacity, options.training, kernels)) scratch.set(r.name, views.get(`scratch${i}/${r.name}`)!);
      return { x: acts[i], y: acts[i + 1], dx: i === 0 ? null : grads[i], dy: grads[i + 1], params: paramViews[i], grads: [], scratch };
    });
    this.input = acts[0];
    this.inputBytes = views.get('inputBytes') as Uint8Array;
    this.output = acts[layers.length];
    this.outputGrad = grads[layers.length];
    this.sparseTargets = views.get('sparseTargets') as Int32Array;
    this.denseTargets = f32('denseTargets');
    this.sparseTargetSet = { sparse: this.sparseTargets };
    this.denseTargetSet = { dense: this.denseTargets };
    const slots: Float32Array[] = [];
    for (let k = 0; k < options.gradSlots; k++) slots.push(f32(`slot${k}`));
    this.#slots = slots;
    this.#slotViews = slots.map((s) => network.views(s));
  }

  /** Frees the workspace's region of the heap (when it made its own); it must not be used afterwards. */
  release(): void {
    this.#arena?.release();
    this.#arena = null;
  }

  /**
   * Makes `buffer` (a whole gradient in the parameter layout) gradient slot `slot`, e.g. so a thread
   * sums a block straight into a shared result buffer instead of copying it there afterwards.
   */
  bindSlot(slot: number, buffer: Float32Array): void {
    let views = this.#viewCache.get(buffer);
    if (!views) {
      views = this.network.views(buffer);
      this.#viewCache.set(buffer, views);
    }
    this.#slots[slot] = buffer;
    this.#slotViews[slot] = views;
  }

  /**
   * Runs the layers forward on the first n samples of `input`. With `fuseSoftmax` the last layer's
   * activation is skipped, leaving logits in `output` for the loss to turn into probabilities.
   */
  forward(n: number, training: boolean, seed: number, step: number, firstSample: number, fuseSoftmax: boolean): void {
    const ctx = this.#ctx;
    ctx.n = n;
    ctx.training = training;
    ctx.seed = seed;
    ctx.step = step;
    ctx.firstSample = firstSample;
    const layers = this.network.layers;
    for (let i = 0; i < layers.length; i++) {
      ctx.layerIndex = i;
      ctx.skipActivation = fuseSoftmax && i === layers.length - 1;
      layers[i].forward(this.#io[i], ctx);
    }
  }

  /**
   * Back-propagates `outputGrad` through the layers, writing parameter gradients into gradient slot
   * `slot`. Must follow a training forward pass with the same arguments.
   */
  backward(slot: number, fuseSoftmax: boolean): void {
    const ctx = this.#ctx;
    const views = this.#slotViews[slot];
    for (let i = this.network.layers.length - 1; i >= 0; i--) {
      const io = this.#io[i];
      io.grads = views[i];
      ctx.layerIndex = i;
      ctx.skipActivation = fuseSoftmax && i === this.network.layers.length - 1;
      this.network.layers[i].backward(io, ctx);
    }
  }
}
