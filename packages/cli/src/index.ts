export { main as cnnMain, cnnProgram } from './cnn.js';
export { main as coordinatorMain, coordinatorProgram } from './coordinator.js';
export { main as workerMain, workerProgram } from './worker.js';
