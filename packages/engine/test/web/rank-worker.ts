// The rank worker of the browser test: the one line a page's worker script needs.
import { runWebRank } from '../../dist/web/index.js';

runWebRank();
