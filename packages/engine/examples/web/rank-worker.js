// Each rank of the engine runs this script in a dedicated Web Worker.
import { runWebRank } from '@dcp/engine/web';

runWebRank();
