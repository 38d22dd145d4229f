import { normalizeConfig } from '../names.js';
import { type Shape, sizeOf } from '../shape.js';
import { BASE_CONFIG_KEYS, Layer, type LayerConfig, type LayerIO } from './layer.js';

/** NHWC rows are already flat in memory: the output buffer is the input buffer. */
export class Flatten extends Layer {
  readonly className = 'Flatten';
  readonly defaultName = 'flatten';

  constructor(config: LayerConfig = {}) {
    super(normalizeConfig<LayerConfig>('flatten', config, [...BASE_CONFIG_KEYS, 'dataFormat']));
  }

  protected computeOutputShape(inputShape: Shape): Shape {
    return [sizeOf(inputShape)];
  }

  override get aliasesInput(): boolean {
    return true;
  }

  forward(_io: LayerIO): void {}

  backward(_io: LayerIO): void {}

  getLayerConfig(): Record<string, unknown> {
    return {};
  }
}
