// The project in Azure (`azd up`): one resource group holding a Flex Consumption function app on
// Node 22 with a user-assigned identity, Table storage (shared keys off), a Service Bus namespace
// with the contract's five queues, Application Insights on a Log Analytics workspace, and the role
// assignments the identity needs and nothing broader. What each part is and costs: README,
// "Deploy to Azure". tests/architecture/infra.test.ts keeps the queues and the app settings equal
// to what the local broker and the code use (the Bicep compiler does not run on these machines).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it names the resource group and seeds the resource names.')
param environmentName string

@minLength(1)
@description('Region of every resource (one that offers Flex Consumption).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name (default rg-<environmentName>).')
param resourceGroupName string = ''

@description('Function app name (default func-<token>).')
param functionAppName string = ''

@description('Storage account of the host and the tables (default st<token>).')
param storageAccountName string = ''

@description('Service Bus namespace name (default sb-<token>).')
param serviceBusNamespaceName string = ''

@description('true: the Dataverse side and the F&O side get a storage account each (the integration\'s own tables stay in the main account).')
param separateSideStorage bool = false

@description('F&O legal entity accounting currency (AccountingCurrency).')
param accountingCurrency string = 'USD'

@description('NCRONTAB (6 fields) of the import from staging (ImportFromStagingSchedule).')
param importFromStagingSchedule string = '0 */1 * * * *'

@description('NCRONTAB (6 fields) of the repair sweep (ReconcileSchedule).')
param reconcileSchedule string = '0 */15 * * * *'

@minValue(1)
@maxValue(1000)
@description('Most instances Flex Consumption scales the app out to.')
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
@description('Memory of each instance (MB).')
param instanceMemoryMB int = 2048

@minValue(30)
@maxValue(730)
@description('Days Log Analytics keeps the telemetry.')
param logRetentionDays int = 30

var tags = {
  'azd-env-name': environmentName
}
var token = toLower(uniqueString(subscription().id, environmentName, location))

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'resources'
  scope: group
  params: {
    location: location
    tags: tags
    functionAppName: !empty(functionAppName) ? functionAppName : 'func-${token}'
    storageAccountName: !empty(storageAccountName) ? storageAccountName : 'st${token}'
    dataverseStorageAccountName: 'stdv${take(token, 20)}'
    financeStorageAccountName: 'stfo${take(token, 20)}'
    serviceBusNamespaceName: !empty(serviceBusNamespaceName) ? serviceBusNamespaceName : 'sb-${token}'
    identityName: 'id-${token}'
    planName: 'plan-${token}'
    logAnalyticsName: 'log-${token}'
    applicationInsightsName: 'appi-${token}'
    separateSideStorage: separateSideStorage
    accountingCurrency: accountingCurrency
    importFromStagingSchedule: importFromStagingSchedule
    reconcileSchedule: reconcileSchedule
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    logRetentionDays: logRetentionDays
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = group.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output FUNCTION_APP_URL string = resources.outputs.functionAppUrl
output SERVICE_BUS_NAMESPACE string = resources.outputs.serviceBusNamespace
output STORAGE_TABLE_ENDPOINT string = resources.outputs.tableServiceUri
output APPLICATION_INSIGHTS_NAME string = resources.outputs.applicationInsightsName
output MANAGED_IDENTITY_CLIENT_ID string = resources.outputs.identityClientId
