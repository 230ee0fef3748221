import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * HTTP/1.1 on a bare socket, for what fetch will not do: stall in the middle of the headers,
 * trickle a chunked body byte by byte, or speak from another loopback address (another client).
 */
export class RawClient {
  private received = Buffer.alloc(0);
  private trickling: NodeJS.Timeout | undefined;
  /** Settles when the collector closes the connection (or it breaks). */
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
    });
    socket.on('error', () => {});
    this.closed = once(socket, 'close').then(() => this.stopTrickle());
  }

  /** Connects to the collector at `url` from `localAddress` (any 127.x.y.z is this machine). */
  static async open(url: string, localAddress = '127.0.0.1'): Promise<RawClient> {
    const { hostname, port } = new URL(url);
    const socket = connect({ host: hostname, port: Number(port), localAddress });
    await once(socket, 'connect');
    return new RawClient(socket);
  }

  /** Opens a request whose body comes in chunks (no length given). */
  async startChunked(contentType = 'application/json', extra: Record<string, string> = {}): Promise<void> {
    const headers = { 'content-type': contentType, 'transfer-encoding': 'chunked', ...extra };
    await this.write(`POST /v1/traces HTTP/1.1\r\nHost: localhost\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  }

  async chunk(data: string | Buffer): Promise<void> {
    const bytes = Buffer.from(data);
    await this.write(Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]));
  }

  /** Sends one byte of JSON whitespace every `everyMs`: a body that never ends but is never idle. */
  trickle(everyMs: number): void {
    this.trickling = setInterval(() => this.socket.write('1\r\n \r\n'), everyMs);
  }

  stopTrickle(): void {
    clearInterval(this.trickling);
  }

  /** Ends the chunked body with `last` (an empty OTLP request unless told) and the closing chunk. */
  async finish(last = '{"resourceSpans":[]}'): Promise<void> {
    this.stopTrickle();
    await this.chunk(last);
    await this.write('0\r\n\r\n');
  }

  /** Sends a whole request with a known length. */
  async post(body: string, contentType = 'application/json'): Promise<void> {
    await this.write(`POST /v1/traces HTTP/1.1\r\nHost: localhost\r\ncontent-type: ${contentType}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (error) => (error ? reject(error) : resolve())));
  }

  /** The first response on this connection, once it has arrived whole. */
  async response(): Promise<RawResponse> {
    for (;;) {
      const parsed = this.parse();
      if (parsed) return parsed;
      if (this.socket.destroyed) throw new Error(`the connection closed before a whole response: ${this.received.toString()}`);
      await Promise.race([once(this.socket, 'data'), this.closed]);
    }
  }

  close(): void {
    this.stopTrickle();
    this.socket.destroy();
  }

  private parse(): RawResponse | undefined {
    const end = this.received.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine, ...lines] = this.received.subarray(0, end).toString().split('\r\n');
    const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
    const body = this.received.subarray(end + 4);
    // Without a length (Node's own 408), the body runs to the end of the connection.
    const length = headers['content-length'] === undefined ? (this.socket.destroyed ? body.length : Number.NaN) : Number(headers['content-length']);
    if (!(body.length >= length)) return undefined;
    return { status: Number(statusLine!.split(' ')[1]), headers, body: body.subarray(0, length) };
  }
}
