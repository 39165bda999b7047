import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TemplateEngine } from './liquid.js';

describe('TemplateEngine', () => {
  const engine = new TemplateEngine({ strict: true, renderTimeoutMs: 100 });

  it('renders with data, using the parse cache', () => {
    assert.equal(engine.render('Hi {{ name }}', { name: 'Ada' }, 'text'), 'Hi Ada');
    assert.equal(engine.render('Hi {{ name }}', { name: 'Bob' }, 'text'), 'Hi Bob');
  });

  it('cannot read files through include, render or layout', () => {
    for (const source of [
      "{% include '/etc/passwd' %}",
      "{% render '/etc/hostname' %}",
      "{% layout '/etc/passwd' %}x",
    ]) {
      assert.throws(() => engine.render(source, {}, 'html'), /ERR_TEMPLATE|not found|ENOENT/i);
    }
  });

  it('strict mode still allows default and if on an absent variable', () => {
    assert.equal(engine.render('Hi {{ name | default: "there" }}', {}, 'text'), 'Hi there');
    assert.equal(engine.render('{% if vip %}VIP{% else %}-{% endif %}', {}, 'text'), '-');
    assert.throws(() => engine.render('Hi {{ name }}', {}, 'text'), {
      code: 'ERR_TEMPLATE_RENDER',
    });
  });

  it('sees own properties only', () => {
    const lenient = new TemplateEngine({ strict: false, renderTimeoutMs: 100 });
    assert.equal(lenient.render('[{{ v.constructor }}]', { v: {} }, 'text'), '[]');
  });

  it('reports syntax errors with a position', () => {
    assert.throws(() => engine.validate('Hello {% if %}', 'subject'), {
      code: 'ERR_TEMPLATE_SYNTAX',
    });
  });
});
