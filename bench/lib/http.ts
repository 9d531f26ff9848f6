/** HTTP client pieces shared by the embedded and Kafka benches. */
import { type Agent, request } from 'node:http';

/** POSTs a GraphQL body over a keep-alive agent; resolves with the response text. */
export function post(agent: Agent, url: URL, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`))));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export const PUBLISH_MANY = 'mutation Bench($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { status } }';
