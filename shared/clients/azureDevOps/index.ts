/**
 * The Azure DevOps client of the tasks that talk to Azure DevOps' REST API (UpdateSubmodules,
 * PromoteBranch), built once on azure-devops-node-api (v17).
 *
 * - Plain data in and out (./types.ts): every method returns small typed records, never the
 *   library's types.
 * - One retry policy (../http.ts) around every call: 429 and 5xx with Retry-After, bounded in
 *   attempts and time; writes that create something are only repeated when the server cannot
 *   have acted (see classifyHttpFailure); ./transport.ts.
 * - Every request has a timeout (the library's socket timeout) and the whole call a time bound.
 * - Errors are AzureDevOpsError: Azure DevOps' own message quoted, the request (method and URL,
 *   never the token) and a fix naming the permission and the identity (./errors.ts).
 *
 * How it fits the library (v17):
 * - Discovery: `getGitApi()`/`getBuildApi()` first ask `OPTIONS _apis/Location` and
 *   `GET _apis/ResourceAreas` through a LocationsApi that WebApi creates with its own retries
 *   forced on (allowRetries, maxRetries 5, 10–160 ms apart, no Retry-After, 502/503/504 only).
 *   Left as is, that multiplies with our policy (up to 6 × 4 requests) and ignores Retry-After,
 *   so `RelevoWebApi` (./transport.ts) overrides `getLocationsApi` to build it with our options
 *   (library retries off); the discovery then runs inside our retry loop like any other request.
 * - The api-version goes in the Accept header (`application/json;api-version=7.2-preview.2`),
 *   negotiated down against the area's OPTIONS answer; never in the query string.
 * - A 404 does not reject: the library resolves with a null result and drops the body, so a
 *   missing repository or pull request is detected here from the null, and Azure DevOps' 404
 *   message is not available to quote.
 * - Work items can only be linked when the pull request is created (`workItemRefs` in the create
 *   body). Linking them to an existing pull request needs the work item tracking API (an
 *   ArtifactLink relation per work item) and "Edit work items" for the build identity; not
 *   offered here.
 */
export type * from './types';
export { AzureDevOpsError, type AzureDevOpsErrorKind } from './errors';
export { PULL_REQUEST_DESCRIPTION_LIMIT, connectAzureDevOps } from './client';
export { organizationOf, tokenGoesTo } from '../organization';
