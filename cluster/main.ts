#!/usr/bin/env node
// The `raftq` command. This is the one room that knows everything: it adds `node` and `dev` to
// the client and admin commands that live in src/cli, and gives nodes their HTTP face from src/http.

import { Command, Option } from 'commander';
import { registerClientCommands } from '../src/cli/commands.js';
import { registerScheduleCommands } from '../src/cli/schedule-commands.js';
import { registerBenchCommand } from './bench/command.js';
import { runDev } from './dev.js';
import { observabilityExtension } from './observability.js';
import { runNode } from './run-node.js';

const program = new Command();
program
  .name('raftq')
  .description('raftq: a replicated job broker (Raft + LevelDB). Nodes from --nodes or RAFTQ_NODES (default 127.0.0.1:7001,7002,7003).')
  .showHelpAfterError();

program
  .command('node')
  .description('run one broker node (flags also read from RAFTQ_* environment variables)')
  .option('--id <id>', 'node id (RAFTQ_ID)', undefined)
  .option('--listen <host:port>', 'client protocol listener (RAFTQ_LISTEN; default 127.0.0.1:7001 for n1)')
  .option('--peer-listen <host:port>', 'peer (Raft) listener (RAFTQ_PEER_LISTEN; default 127.0.0.1:7101 for n1)')
  .option('--http <host:port>', 'HTTP listener: REST, /metrics, /health, dashboard (RAFTQ_HTTP; default 127.0.0.1:8001 for n1)')
  .option('--peers <list>', 'other nodes as id=host:port of their peer listeners, comma-separated (RAFTQ_PEERS)')
  .option('--data-dir <dir>', 'where the Raft log and snapshots live (RAFTQ_DATA_DIR; default ./data/<id>)')
  .option('--storage <engine>', 'Raft log engine for a new data directory: wal (segment files of our own) or leveldb; an existing directory keeps its own (RAFTQ_STORAGE; default wal)')
  .option('--join', 'wait to be added to an existing cluster instead of bootstrapping one (RAFTQ_JOIN=1)')
  .option('--advertise-host <host>', 'host peers and clients dial when a listener binds 0.0.0.0 (RAFTQ_ADVERTISE_HOST; default hostname)')
  .option('--tick-ms <ms>', 'Raft tick (RAFTQ_TICK_MS; default 50)')
  .option('--election-ticks <n>', 'election timeout in ticks, randomized up to 2x (RAFTQ_ELECTION_TICKS; default 10)')
  .option('--snapshot-every <entries>', 'snapshot and compact the log every N entries (RAFTQ_SNAPSHOT_EVERY; default 20000)')
  .option('--snapshot-every-bytes <bytes>', 'also once the entries applied since the last snapshot hold this many bytes (RAFTQ_SNAPSHOT_EVERY_BYTES; default 67108864 = 64 MiB, at least 1 MiB)')
  .option('--leader-snapshot-pause-max-ms <ms>', 'a leader whose snapshot would pause its answers longer hands leadership to a follower first (RAFTQ_LEADER_SNAPSHOT_PAUSE_MAX_MS; default 100; 0: never)')
  .option('--payload-max-bytes <bytes>', 'largest job payload (RAFTQ_PAYLOAD_MAX_BYTES; default 1048576)')
  .option('--clock-offset-ms <ms>', 'shift this node\'s clock (fault injection; RAFTQ_CLOCK_OFFSET_MS)')
  .addOption(new Option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (RAFTQ_LOG_LEVEL; default info)'))
  .action(async (flags) => {
    await runNode(flags, observabilityExtension);
  });

program
  .command('dev')
  .description('start a local cluster of real node processes on the default ports (what `npm start` runs)')
  .option('--nodes <n>', 'how many nodes', '3')
  .option('--data-dir <dir>', 'data directory', 'data')
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .option('--base-port <port>', 'client ports are base+1.., peer base+101.., HTTP base+1001..', '7000')
  .option('--log-level <level>', 'node log level', 'info')
  .action(async (flags: { nodes: string; dataDir: string; host: string; logLevel: string; basePort: string }) => {
    await runDev({ nodes: Number(flags.nodes), dataDir: flags.dataDir, host: flags.host, logLevel: flags.logLevel, basePort: Number(flags.basePort) });
  });

registerClientCommands(program);
registerScheduleCommands(program);
registerBenchCommand(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  console.error(`raftq: ${(error as Error).message}`);
  process.exit(1);
});
