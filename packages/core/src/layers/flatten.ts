import { normalizeConfig } from '../names.js';
import { type Shape, sizeOf } from '../shape.js';
import { BASE_CONFIG_KEYS, Layer, type LayerConfig, type LayerIO } from './layer.js';
import { requireChannelsLast } from './options.js';

/** NHWC rows are already flat in memory: the output buffer is the input buffer. */
export class Flatten extends Layer {
  readonly className = 'Flatten';
  readonly defaultName = 'flatten';

  constructor(config: LayerConfig = {}) {
    const c = normalizeConfig<LayerConfig & { dataFormat?: string }>('flatten', config, [...BASE_CONFIG_KEYS, 'dataFormat']);
    super(c);
    requireChannelsLast('flatten', c.dataFormat);
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
