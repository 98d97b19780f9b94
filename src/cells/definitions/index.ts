/** The built-in cell definitions (the one statement of each cell's math; see docs/models.md). */
export { lstmCell } from './lstm.js';
export { gruCell } from './gru.js';
export { elmanCell } from './elman.js';
export { slstmCell } from './slstm.js';
export { minGruCell, minLstmCell, minGruG, minGruLogG } from './min-rnn.js';
