/**
 * Liquid templates (liquidjs), sandboxed: templates see only the data given
 * to them (own properties, no prototype walk), have no file system access
 * (no partials from disk), and are bounded in render time and output size.
 *
 * Parsed templates are cached by their source text, so a campaign or a
 * busy transactional template is parsed once per process. A template made
 * of text and plain outputs also gets a fast plan (./liquid-fast-path.ts),
 * rendered without liquidjs when the data allow it, with the same result.
 */
import { Liquid, type Template as LiquidTemplate } from 'liquidjs';
import { SluiceError } from '../core/errors.js';
import { fastPlan, renderFast, type FastPlan } from './liquid-fast-path.js';

interface Parsed {
  templates: LiquidTemplate[];
  plan: FastPlan | undefined;
}

export interface TemplateEngineOptions {
  /** Unknown variables are errors rather than empty strings. */
  strict: boolean;
  /** Longest render of one template, in ms. */
  renderTimeoutMs: number;
  /** Largest rendered output of one template part, in characters. */
  maxOutputChars?: number;
  /** Parsed templates kept in the cache. */
  cacheSize?: number;
}

const DEFAULT_MAX_OUTPUT = 2 * 1024 * 1024;
const DEFAULT_CACHE_SIZE = 1000;

export class TemplateEngine {
  private readonly strictEngine: Liquid;
  private readonly lenientEngine: Liquid;
  private readonly cache = new Map<string, Parsed>();
  private readonly maxOutput: number;
  private readonly cacheSize: number;

  constructor(readonly options: TemplateEngineOptions) {
    const common = {
      strictFilters: true,
      ownPropertyOnly: true,
      // No partials or layouts: include/render/layout look only in this empty
      // in-memory map, so a template cannot read files. (Passing `fs: undefined`
      // would override liquidjs' default and crash its constructor.)
      templates: {},
      relativeReference: false,
      dynamicPartials: false,
      renderLimit: options.renderTimeoutMs,
      parseLimit: 1_000_000,
      memoryLimit: 64 * 1024 * 1024,
    };
    // lenientIf: strict mode still allows the documented fallbacks
    // `{{ x | default: "…" }}` and `{% if x %}` for a variable that is absent.
    this.strictEngine = new Liquid({ ...common, strictVariables: true, lenientIf: true });
    this.lenientEngine = new Liquid({ ...common, strictVariables: false });
    this.maxOutput = options.maxOutputChars ?? DEFAULT_MAX_OUTPUT;
    this.cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
  }

  /** Throws ERR_TEMPLATE_SYNTAX (with line and column) when `source` does not parse. */
  validate(source: string, field: string): void {
    this.parse(source, field);
  }

  /**
   * Renders `source` with `data`. Throws ERR_TEMPLATE_SYNTAX or
   * ERR_TEMPLATE_RENDER naming `field`. `strict` overrides the engine default.
   */
  render(
    source: string,
    data: Record<string, unknown>,
    field: string,
    strict = this.options.strict,
  ): string {
    const parsed = this.parse(source, field);
    const engine = strict ? this.strictEngine : this.lenientEngine;
    let output = parsed.plan && renderFast(parsed.plan, data);
    if (output === undefined) {
      try {
        output = engine.renderSync(parsed.templates, data) as string;
      } catch (error) {
        throw templateError('ERR_TEMPLATE_RENDER', error, field);
      }
    }
    if (output.length > this.maxOutput) {
      throw new SluiceError(
        'ERR_TEMPLATE_RENDER',
        `${field}: rendered output is larger than ${this.maxOutput} characters`,
        {
          field,
        },
      );
    }
    return output;
  }

  private parse(source: string, field: string): Parsed {
    const cached = this.cache.get(source);
    if (cached) return cached;
    let parsed: Parsed;
    try {
      const templates = this.strictEngine.parse(source);
      parsed = { templates, plan: fastPlan(templates) };
    } catch (error) {
      throw templateError('ERR_TEMPLATE_SYNTAX', error, field);
    }
    if (this.cache.size >= this.cacheSize) {
      // Drop the oldest entry (Map keeps insertion order).
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(source, parsed);
    return parsed;
  }
}

interface LiquidErrorLike {
  message: string;
  token?: { getPosition?: () => [number, number] };
}

function templateError(
  code: 'ERR_TEMPLATE_SYNTAX' | 'ERR_TEMPLATE_RENDER',
  error: unknown,
  field: string,
): SluiceError {
  const err = error as LiquidErrorLike;
  const position = err.token?.getPosition?.();
  const reason = String(err.message ?? error).replace(/, line:\d+, col:\d+$/, '');
  if (position) {
    const [line, column] = position;
    return new SluiceError(code, `${field}: ${reason} at line ${line}, column ${column}`, {
      field,
      line,
      column,
    });
  }
  return new SluiceError(code, `${field}: ${reason}`, { field });
}
