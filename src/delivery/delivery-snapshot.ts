/**
 * A read-only picture of the delivery worker's relays, pools and domain
 * throttles at one instant, for the dashboard and the alert evaluator. Plain
 * data: taking one changes nothing (a circuit whose cool-down is over reads
 * half-open, exactly as the next dispatch would see it).
 */
import type { CircuitState } from '../core/circuit-breaker.js';

export interface RelaySnapshot {
  name: string;
  host: string;
  port: number;
  state: CircuitState;
  /** Takes new messages now (circuit allows, under its warm-up cap, not closing). */
  accepting: boolean;
  /** Messages assigned to the relay and not finished. */
  inFlight: number;
  /** Connections open or opening. */
  connections: number;
  maxConnections: number;
  /** While open: when the cool-down ends (epoch ms). */
  retryAt?: number;
  /** The relay's own rate limit, when it has one. */
  rate?: { perSecond?: number; perHour?: number };
}

export interface PoolSnapshot {
  name: string;
  strategy: string;
  relays: string[];
  /** Relays that take traffic now. */
  available: number;
}

export interface DomainGroupSnapshot {
  /** A configured group's name, or `default` for the domain defaults. */
  name: string;
  maxConnections?: number;
  perSecond?: number;
  perHour?: number;
  /** Share of its limits the group may use now (adaptive backoff; 1 = all). */
  factor: number;
  /** Transactions in flight to the group now (counted only when it has a connection limit). */
  active: number;
  /** Messages waiting for one of its connection slots. */
  waiting: number;
}

export interface DeliverySnapshot {
  /** Messages claimed by this node's worker and not yet settled. */
  inFlight: number;
  relays: RelaySnapshot[];
  pools: PoolSnapshot[];
  domainGroups: DomainGroupSnapshot[];
}

/** What the dashboard and the alerts read from a running worker. */
export interface DeliveryView {
  snapshot(): DeliverySnapshot;
}
