/**
 * Each client's share of the ingest work in progress, so that one greedy or stuck client cannot
 * crowd out the others. A client's share is `capacity` divided by the clients with work in
 * progress (itself included), at least 1. A client alone may use everything: the share only
 * binds when another client is also sending, which keeps a proxy (one address for all of its
 * exporters) from being throttled against nobody.
 */
export class FairShare {
  private readonly inProgress = new Map<string, number>();

  constructor(private readonly capacity: number) {}

  /** Counts one more request of `client`; false (and nothing counted) when it already has its share. */
  enter(client: string): boolean {
    const mine = this.inProgress.get(client) ?? 0;
    const clients = this.inProgress.size + (mine === 0 ? 1 : 0);
    if (clients > 1 && mine >= Math.max(1, Math.floor(this.capacity / clients))) return false;
    this.inProgress.set(client, mine + 1);
    return true;
  }

  leave(client: string): void {
    const mine = (this.inProgress.get(client) ?? 1) - 1;
    if (mine > 0) this.inProgress.set(client, mine);
    else this.inProgress.delete(client);
  }
}
