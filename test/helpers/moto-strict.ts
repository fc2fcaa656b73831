/**
 * The rules by which the moto proxy (moto.ts) says no where real EC2 does and moto does not.
 * Each rule is written from AWS's documentation, cited at the rule.
 */

/** A response, as moto gave it or as a rule makes it. */
export interface Upstream {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Eventual consistency to inject for the next resources created (see `lag`). */
export interface Lag {
  /** requests naming a just-created security group that answer InvalidGroup.NotFound */
  groupNotFound?: number;
  /** DescribeInstances calls after RunInstances that do not see the new instances yet */
  hiddenDescribes?: number;
}

export function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>${Math.random().toString(16).slice(2)}-inj</RequestID></Response>`;
}

export function errorResponse(status: number, code: string, message: string): Upstream {
  return { status, headers: { 'content-type': 'text/xml' }, body: errorXml(code, message) };
}

/** The region a SigV4-signed request is for: `Credential=<key>/<date>/<region>/ec2/aws4_request`. */
export function regionOf(authorization: string | undefined): string | undefined {
  return /Credential=[^/]+\/\d+\/([a-z0-9-]+)\/ec2\//.exec(authorization ?? '')?.[1];
}

/** The `<item>...</item>` of a reservation, by its id, out of a DescribeInstances response. */
function withoutReservation(xml: string, reservationId: string): string {
  const at = xml.indexOf(`<reservationId>${reservationId}</reservationId>`);
  if (at < 0) return xml;
  const start = xml.lastIndexOf('<item>', at);
  let depth = 0;
  const tags = /<item>|<\/item>/g;
  tags.lastIndex = start;
  for (let m = tags.exec(xml); m; m = tags.exec(xml)) {
    depth += m[0] === '<item>' ? 1 : -1;
    if (depth === 0) return xml.slice(0, start) + xml.slice(m.index + m[0].length);
  }
  return xml;
}

const all = (re: RegExp, s: string) => [...s.matchAll(re)].map((m) => m[1]!);

export class Strict {
  /** region|token -> the first answer and the parameters it was for */
  private tokens = new Map<string, { params: string; answer: Upstream }>();
  readonly denied = new Set<string>();
  private lagNext: Lag = {};
  private groups = new Map<string, number>();
  private hidden: Array<{ reservation: string; ids: string[]; describes: number }> = [];

  lag(l: Lag): void {
    this.lagNext = { ...l };
  }

  reset(): void {
    this.denied.clear();
    this.lagNext = {};
    this.groups.clear();
    this.hidden = [];
  }

  /** An answer instead of moto's, or undefined to ask moto. */
  before(action: string, params: URLSearchParams, region: string | undefined): Upstream | undefined {
    // An organisation's SCP denying a region: every EC2 call there fails with UnauthorizedOperation
    // while DescribeRegions elsewhere still lists it.
    // https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_examples_general.html#example-scp-deny-region
    if (region && this.denied.has(region)) {
      return errorResponse(403, 'UnauthorizedOperation', 'You are not authorized to perform this operation.');
    }
    // Right after a create, other calls may not see the resource yet: InvalidGroup.NotFound,
    // InvalidInstanceID.NotFound. https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html
    for (const [group, left] of this.groups) {
      const uses = action === 'AuthorizeSecurityGroupIngress' || action === 'RunInstances';
      if (uses && left > 0 && [...params.values()].includes(group)) {
        this.groups.set(group, left - 1);
        return errorResponse(400, 'InvalidGroup.NotFound', `The security group '${group}' does not exist`);
      }
    }
    if (action === 'DescribeInstances') {
      const asked = [...params.entries()].filter(([k]) => k.startsWith('InstanceId.')).map(([, v]) => v);
      const missing = asked.filter((id) => this.hidden.some((h) => h.describes > 0 && h.ids.includes(id)));
      if (missing.length) {
        for (const h of this.hidden) if (h.ids.some((id) => missing.includes(id))) h.describes--;
        return errorResponse(
          400,
          'InvalidInstanceID.NotFound',
          `The instance IDs '${missing.join(', ')}' do not exist`,
        );
      }
    }
    if (action === 'RunInstances') return this.idempotent(params, region);
    return undefined;
  }

  /**
   * ClientToken: a repeated RunInstances with the same token and parameters returns the first
   * call's result (for at least 24 h, even after the instances terminated); the same token with
   * other parameters fails with IdempotentParameterMismatch.
   * https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html
   */
  private idempotent(params: URLSearchParams, region: string | undefined): Upstream | undefined {
    const token = params.get('ClientToken');
    if (!token) return undefined;
    const seen = this.tokens.get(`${region}|${token}`);
    if (!seen) return undefined;
    if (seen.params !== paramsKey(params)) {
      return errorResponse(
        400,
        'IdempotentParameterMismatch',
        'The client token you have provided is associated with a resource that is already deleted or has different parameters.',
      );
    }
    return seen.answer;
  }

  /** moto's answer, as the rules change it (and remember it). */
  after(action: string, params: URLSearchParams, region: string | undefined, answer: Upstream): Upstream {
    if (answer.status >= 300) return answer;
    if (action === 'RunInstances' && params.get('ClientToken')) {
      this.tokens.set(`${region}|${params.get('ClientToken')}`, { params: paramsKey(params), answer });
    }
    if (action === 'CreateSecurityGroup' && this.lagNext.groupNotFound) {
      for (const g of all(/<groupId>(sg-[0-9a-f]+)<\/groupId>/g, answer.body))
        this.groups.set(g, this.lagNext.groupNotFound);
    }
    if (action === 'RunInstances' && this.lagNext.hiddenDescribes) {
      const reservation = /<reservationId>(r-[0-9a-f]+)<\/reservationId>/.exec(answer.body)?.[1];
      const ids = all(/<instanceId>(i-[0-9a-f]+)<\/instanceId>/g, answer.body);
      if (reservation) this.hidden.push({ reservation, ids, describes: this.lagNext.hiddenDescribes });
    }
    if (action === 'DescribeInstances') {
      let body = answer.body;
      for (const h of this.hidden) {
        if (h.describes > 0 && body.includes(`<reservationId>${h.reservation}</reservationId>`)) {
          body = withoutReservation(body, h.reservation);
          h.describes--;
        }
      }
      if (body !== answer.body) return { ...answer, body };
    }
    return answer;
  }
}

/** A request's parameters without its token, in a stable order. */
function paramsKey(params: URLSearchParams): string {
  return [...params.entries()]
    .filter(([k]) => k !== 'ClientToken')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}
