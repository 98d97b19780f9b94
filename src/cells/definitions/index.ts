/** The built-in cell definitions (the one statement of each cell's math; see docs/models.md). */
export { lstmDefinition } from './lstm.js';
export { gruDefinition } from './gru.js';
export { elmanDefinition } from './elman.js';
export { slstmDefinition } from './slstm.js';
export { minGruDefinition, minLstmDefinition, minGruG, minGruLogG } from './min-rnn.js';
