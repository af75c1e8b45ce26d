// npm packs a LICENSE only from the package's own folder; the text lives at the
// repository root (one copy for the server and this package), so prepack copies
// it here. web/LICENSE is not committed.
import { copyFileSync } from 'node:fs';
copyFileSync(new URL('../../LICENSE', import.meta.url), new URL('../LICENSE', import.meta.url));
