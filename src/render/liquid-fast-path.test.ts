import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Liquid } from 'liquidjs';
import { fastPlan, renderFast } from './liquid-fast-path.js';

// The options of TemplateEngine's two engines (./liquid.ts).
const common = { strictFilters: true, ownPropertyOnly: true, templates: {} };
const engines = {
  strict: new Liquid({ ...common, strictVariables: true, lenientIf: true }),
  lenient: new Liquid({ ...common, strictVariables: false }),
};

const TEMPLATES = [
  "Hello {{ contact.first_name | default: 'there' }},\n\nNews for {{ contact.city }}.",
  '{{ name }}',
  '[{{- name -}}]',
  '{{ a.b.c }}',
  "{{ a['b'].c }}",
  '{{ n | default: 7 }}',
  '{{ name | default: "x" }}',
  '{{ list.size }} {{ list.first }} {{ list.last }}',
  '{{ s.size }}',
  '{{ a.constructor }}',
  '{{ a.toString }}',
  '{{ v }}',
  'plain text only',
  '',
];

const DATA: Record<string, unknown>[] = [
  {},
  { name: 'Ada', n: 0, v: 'x', s: 'abc' },
  { name: '', n: -1.5, v: true },
  { name: 3, n: '', v: false },
  { name: null, n: null, v: [1, 2] },
  { name: ['a', 'b'], v: { k: 1 } },
  { a: { b: { c: 'deep' } }, contact: { first_name: 'Ann', city: 'Oslo' } },
  { a: { b: { c: 12 } }, contact: { first_name: '', city: '' } },
  { a: { b: null }, contact: { city: 'Lyon' } },
  { a: { b: [] }, contact: { first_name: 0, city: 5 } },
  { a: Object.create({ b: { c: 'inherited' } }) as unknown },
  { a: { b: { c: 'x', toLiquid: () => ({ c: 'y' }) } } },
  { a: { toLiquid: () => ({ b: { c: 'from toLiquid' } }) } },
  { list: [1, 2, 3], s: { size: 9 } },
  { list: { size: 1, first: 'f', last: 'l' } },
  { a: { constructor: 'own', toString: 'own too' } },
  JSON.parse('{"a": {"__proto__": {"c": "json"}}, "name": "j"}') as Record<string, unknown>,
  { contact: { first_name: 'Émile', city: 'Zürich ✓' }, name: 'ß' },
];

function liquid(mode: keyof typeof engines, source: string, data: object): string | Error {
  try {
    return engines[mode].parseAndRenderSync(source, data) as string;
  } catch (error) {
    return error as Error;
  }
}

describe('Liquid fast path', () => {
  it('renders exactly what liquidjs renders, or declines', () => {
    let taken = 0;
    for (const source of TEMPLATES) {
      const plan = fastPlan(engines.strict.parse(source));
      for (const data of DATA) {
        for (const mode of ['strict', 'lenient'] as const) {
          const expected = liquid(mode, source, data);
          const fast = plan && renderFast(plan, data);
          if (fast === undefined) continue;
          taken++;
          const where = `${mode} ${JSON.stringify(source)} with ${JSON.stringify(data)}`;
          assert.ok(
            !(expected instanceof Error),
            `liquidjs fails but the fast path renders: ${where}`,
          );
          assert.equal(fast, expected, where);
        }
      }
    }
    assert.ok(taken > 40, `the fast path was taken ${taken} times`);
  });

  it('takes the common case: present strings and numbers', () => {
    const plan = fastPlan(engines.strict.parse(TEMPLATES[0] ?? ''));
    assert.ok(plan);
    const data = { contact: { first_name: 'Ann', city: 'Oslo' } };
    assert.equal(renderFast(plan, data), 'Hello Ann,\n\nNews for Oslo.');
    assert.equal(renderFast(plan, { contact: { city: 'Oslo' } }), undefined, 'absent: liquidjs');
  });

  it('has no plan for tags, filters other than one literal default, or computed lookups', () => {
    for (const source of [
      '{% if a %}x{% endif %}',
      '{{ name | upcase }}',
      '{{ name | default: other }}',
      '{{ name | default: "a" | upcase }}',
      '{{ a[key] }}',
      '{{ list[0] }}',
      '{{ list.size }}',
      '{{ "literal" }}',
      '{{ a == b }}',
      '{% raw %}{{ x }}{% endraw %}',
    ]) {
      assert.equal(fastPlan(engines.strict.parse(source)), undefined, source);
    }
  });
});
