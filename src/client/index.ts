/** The client library, published as 'arpd/client'. */
export {
  callOnce,
  connect,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_RETRIES,
  DEFAULT_RETRY_DELAY_MS,
  DEFAULT_TIMEOUT_MS,
  type CallOptions,
  type ConnectOptions,
  type RpcClient,
  type RpcNotification,
  type RpcParams,
} from './rpc-client.js';
export { ArpdError, type ErrorCode } from '../errors/index.js';
