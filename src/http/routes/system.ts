/**
 * Unauthenticated endpoints for orchestrators and scrapers: liveness,
 * readiness, Prometheus metrics, and the OpenAPI document.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../app.js';
import { withErrors } from '../schemas.js';

const TAGS = ['system'];

const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not-ready')]),
  checks: Type.Record(Type.String(), Type.String(), {
    description: 'Each dependency and its state, e.g. `{"database": "ok"}`.',
  }),
});

export function systemRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness',
        description: '200 while the process runs; it checks nothing else.',
        tags: TAGS,
        security: [],
        response: withErrors({ 200: Type.Object({ status: Type.Literal('ok') }) }),
      },
    },
    () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness',
        description: '200 when the instance can take traffic (the database answers), else 503.',
        tags: TAGS,
        security: [],
        response: withErrors({ 200: Readiness, 503: Readiness }),
      },
    },
    async (_request, reply) => {
      const { ready, checks } = await deps.readiness();
      return reply
        .status(ready ? 200 : 503)
        .send({ status: ready ? ('ready' as const) : ('not-ready' as const), checks });
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        description: 'The text exposition format.',
        tags: TAGS,
        security: [],
        produces: ['text/plain'],
        response: withErrors({ 200: Type.String() }),
      },
    },
    async (_request, reply) => {
      const body = await deps.metrics.render();
      return reply.header('Content-Type', deps.metrics.contentType).send(body);
    },
  );

  app.get(
    '/openapi.json',
    {
      schema: {
        summary: 'The OpenAPI document',
        description: 'OpenAPI 3 description of this API, generated from the route schemas.',
        tags: TAGS,
        security: [],
        response: withErrors({ 200: Type.Object({}, { additionalProperties: true }) }),
      },
    },
    () => app.swagger(),
  );
}
