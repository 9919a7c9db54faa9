//! GetMetricData's limit of 500 queries a call (CloudWatch API reference,
//! `MetricDataQueries`), which moto does not enforce, proven with an `aws-smithy-mocks` fake
//! behind the real SDK client: it refuses a larger request as AWS does, and answers every query
//! with a value derived from its queue, so each reading is checked against its own queue.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudwatch::operation::get_metric_data::{GetMetricDataError, GetMetricDataOutput};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::MetricDataResult;
use aws_sdk_ecs::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, RuleMode};

use ecs_operator::aws::AwsClients;
use ecs_operator::observe::queues::{self, MAX_QUERIES_PER_CALL};

fn sdk_config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "test",
        )))
        .http_client(create_mock_http_client())
        .build()
}

/// The queue a query asks about, and a value that names it: queue `q-17` is 17 messages
/// visible and 17,000 seconds old.
fn answer(q: &aws_sdk_cloudwatch::types::MetricDataQuery) -> MetricDataResult {
    let stat = q.metric_stat().unwrap();
    let metric = stat.metric().unwrap();
    let queue = metric.dimensions()[0].value().unwrap();
    let n: f64 = queue.trim_start_matches("q-").parse().unwrap();
    let value = match metric.metric_name().unwrap() {
        "ApproximateAgeOfOldestMessage" => n * 1000.0,
        _ => n,
    };
    MetricDataResult::builder()
        .set_id(q.id().map(str::to_string))
        .timestamps(DateTime::from_secs(1_000))
        .values(value)
        .build()
}

#[tokio::test]
async fn six_hundred_queues_are_read_in_three_calls_of_at_most_500_queries() {
    let too_many = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|r| r.metric_data_queries().len() > MAX_QUERIES_PER_CALL)
        .then_error(|| {
            GetMetricDataError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("ValidationError")
                    .message(
                        "The collection MetricDataQueries must not have a size greater than 500.",
                    )
                    .build(),
            )
        });
    let computed = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|r| r.metric_data_queries().len() <= MAX_QUERIES_PER_CALL)
        .then_compute_output(|r| {
            GetMetricDataOutput::builder()
                .set_metric_data_results(Some(r.metric_data_queries().iter().map(answer).collect()))
                .build()
        });
    let mut aws = AwsClients::from_config(&sdk_config(), false);
    aws.cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
        aws.cloudwatch
            .config()
            .to_builder()
            .interceptor(
                MockResponseInterceptor::new()
                    .rule_mode(RuleMode::MatchAny)
                    .with_rule(&too_many)
                    .with_rule(&computed),
            )
            .build(),
    );
    let names: Vec<String> = (0..600).map(|n| format!("q-{n}")).collect();
    let readings = queues::read(&aws, &names).await.unwrap();
    assert_eq!(too_many.num_calls(), 0, "no request above the limit");
    assert_eq!(computed.num_calls(), 3, "250 queues (500 queries) a call");
    assert_eq!(readings.len(), 600);
    for n in [0usize, 249, 250, 599] {
        let r = &readings[&format!("q-{n}")];
        assert_eq!(r.messages_visible, Some(n as f64));
        assert_eq!(r.oldest_message_age_seconds, Some(n as f64 * 1000.0));
    }
}
