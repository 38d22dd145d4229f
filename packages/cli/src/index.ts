export { main, cnnProgram } from './cnn.js';
